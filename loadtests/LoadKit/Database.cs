using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace SecretlessProxy.LoadKit;

/// <summary>
/// The database part (<c>--db</c>, <c>--db-only</c>): a real PostgreSQL (started as the integration tests' fixture
/// starts it: a fresh directory owned by the server's user, a free loopback port, SCRAM only, fsync off), pgbench
/// initialised once, and three paths to it: <c>pg-direct</c> (pgbench logs in with the password), <c>pgbouncer</c>
/// (session mode, SCRAM with the role's verifier) and <c>pg-gateway</c> (SecretlessProxy's PostgreSQL gateway on a
/// plain loopback listener bound to one identity: pgbench sends no password, the gateway logs in upstream with a
/// file credential). Each path runs select-only, the default TPC-B-like script and select-only with a new connection
/// per transaction (<c>-C</c>); CPU per transaction of the middle process, of PostgreSQL and of pgbench come from /proc.
/// </summary>
internal sealed partial class Orchestrator
{
    private const string BenchRole = "bench";
    private const string BenchDatabase = "pgbench";
    private const string PgAdminRole = "bench_admin";
    private const string BenchId = "spiffe://example.org/ns/load/sa/bench";
    private const int DbClients = 16;
    private const int DbThreads = 2;

    /// <summary>A pgbench target: where it connects, the password it sends (none for the gateway), and the process between pgbench and PostgreSQL.</summary>
    private sealed record DbPath(string Name, string What, int Port, string? Password, string? Middle);

    private sealed record DbScript(string Name, string What, string[] Args);

    /// <summary>What pgbench printed: transactions, failures, tps (without the initial connection time, or including reconnections with -C), latency and connection time.</summary>
    private sealed record PgbenchResult(long Transactions, long Failed, double Seconds, double Tps, double LatencyMs, double? ConnectionMs, double? InitialConnectionMs, int ExitCode, string? Error);

    /// <summary>One pgbench run: CPU µs per transaction of the middle process, of the PostgreSQL server (postmaster and backends) and of pgbench, and the share of the machine other processes used meanwhile.</summary>
    private sealed record DbCell(string Script, string Path, int Repeat, PgbenchResult Result, double? MiddleCpuUs, double? PostgresCpuUs, double? ClientCpuUs, double? OtherCpuPercent, double? MiddleSwitchesPerTx);

    private sealed record DbMedian(string Script, string Path, long Transactions, long Failed, int Runs, bool AllExitedZero, double Tps, double LatencyMs, double? ConnectionMs, double? MiddleCpuUs, double? PostgresCpuUs, double? ClientCpuUs, double? OtherCpuPercent, double? MiddleSwitchesPerTx);

    private static readonly DbScript[] DbScripts =
    [
        new("select-only", "`-S`: one `SELECT abalance FROM pgbench_accounts WHERE aid = :aid` per transaction", ["-S"]),
        new("tpcb-like", "`-b tpcb-like` (the default script): three UPDATEs, a SELECT and an INSERT between BEGIN and END", ["-b", "tpcb-like"]),
        new("connect", "`-C -S`: select-only with a new connection (and login) for every transaction", ["-C", "-S"]),
    ];

    private readonly List<DbPath> _dbPaths = [];
    private readonly List<DbCell> _dbCells = [];
    private readonly StringBuilder _dbNotes = new();
    private string? _pgDir;
    private string? _pgBin;
    private int _pgPort;
    private string _pgAdminPassword = "";
    private string _benchPassword = "";
    private (string Name, string Uid, string Gid)? _pgAccount;
    private string _pgVersion = "?";
    private string _pgbouncerVersion = "?";
    private double _pgInitSeconds;

    private int DbSeconds => _options.Smoke ? 2 : _options.Quick ? 8 : 15;

    private const int DbScale = 10;

    /// <summary>A row whose "other CPU" exceeds this share of the machine is flagged as disturbed in the report.</summary>
    private const int DisturbedPercent = 15;

    private static readonly string[] DbPathOrder = ["pg-direct", "pgbouncer", "pg-gateway"];

    /// <summary>Starts PostgreSQL, pgbouncer and the gateway, primes the gateway, then runs every script on every path (paths interleaved within each repeat).</summary>
    private async Task RunDatabaseAsync()
    {
        await StartDatabaseAsync();
        if (!_options.Smoke)
        {
            // The gateway is a .NET process: its relay and its login path are compiled in tiers over the first seconds
            // of load, so both are primed before anything is measured (no row measures the JIT).
            var gateway = _dbPaths.Single(p => p.Name == "pg-gateway");
            Log("warming pg-gateway (select-only 6 s, then -C -S 4 s)");
            foreach (var (args, seconds) in new[] { (new[] { "-S" }, 6), (new[] { "-C", "-S" }, 4) })
            {
                var warm = await PgbenchAsync(gateway, args, seconds);
                if (warm.Transactions == 0)
                {
                    throw new InvalidOperationException("pgbench through the gateway ran no transaction while warming: " + warm.Error);
                }
            }
        }
        for (var repeat = 1; repeat <= _options.Repeats; repeat++)
        {
            foreach (var script in DbScripts)
            {
                foreach (var path in _dbPaths)
                {
                    await MeasureDbAsync(path, script, repeat);
                }
            }
        }
    }

    private async Task StartDatabaseAsync()
    {
        _pgBin = FindPostgresBin() ?? throw new InvalidOperationException(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): loadtests/run.sh --db installs Debian's postgresql");
        _pgVersion = (await RunToolAsync(Path.Combine(_pgBin, "postgres"), ["--version"])).Output.Trim();
        _pgAccount = await ServerAccountAsync();
        // Under /tmp and owned by the server's user: the harness's work folder is private to this user.
        _pgDir = Path.Combine("/tmp", "secretless-load-pg-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        Directory.CreateDirectory(_pgDir);
        await ChownToServerAsync(_pgDir);
        File.SetUnixFileMode(_pgDir, (UnixFileMode)0b111_101_101);
        var data = Path.Combine(_pgDir, "data");

        _pgAdminPassword = "pg-admin-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        _benchPassword = "pg-bench-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var pwfile = Path.Combine(_pgDir, "admin-password");
        await WriteServerPrivateAsync(pwfile, _pgAdminPassword + "\n");
        await RunAsServerAsync(Path.Combine(_pgBin, "initdb"),
            ["-D", data, "-U", PgAdminRole, "--pwfile", pwfile, "--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256",
             "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]);
        File.Delete(pwfile);

        _pgPort = FreePort();
        var settings = new (string, string)[]
        {
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", _pgDir),
            ("max_connections", "200"),
            // pgbench -s 10 is about 160 MB: it fits, so select-only measures the paths and not the disk.
            ("shared_buffers", "256MB"),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("ssl", "off"),
            ("password_encryption", "scram-sha-256"),
            ("logging_collector", "off"),
            ("log_connections", "off"),
            ("log_disconnections", "off"),
            ("log_line_prefix", "%m [%p] user=%u db=%d app=%a client=%h "),
            ("lc_messages", "C"),
            ("log_timezone", "UTC"),
            ("timezone", "UTC"),
        };
        var conf = new StringBuilder("\n# SecretlessProxy load test (loadkit run --db)\n");
        foreach (var (name, value) in settings)
        {
            conf.Append(CultureInfo.InvariantCulture, $"{name} = '{value}'\n");
        }
        await File.AppendAllTextAsync(Path.Combine(data, "postgresql.conf"), conf.ToString());
        await File.WriteAllTextAsync(Path.Combine(data, "pg_hba.conf"),
            "# SecretlessProxy load test: SCRAM only, no trust, no peer\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n");
        await ChownToServerAsync(Path.Combine(data, "pg_hba.conf"));

        var log = Path.Combine(_pgDir, "postgres.log");
        StartAsServer("postgres", "/bin/sh", ["-c", "exec \"$0\" -D \"$1\" -p \"$2\" >>\"$3\" 2>&1", Path.Combine(_pgBin, "postgres"), data, P(_pgPort), log]);
        var ready = Stopwatch.StartNew();
        while ((await RunToolAsync(Path.Combine(_pgBin, "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", P(_pgPort), "-t", "2"])).ExitCode != 0)
        {
            if (_processes.Single(p => p.Name == "postgres").Process.HasExited || ready.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"postgres did not start on 127.0.0.1:{_pgPort}:\n{ReadTail(log)}");
            }
            await Task.Delay(100);
        }
        await PsqlAsync(PgAdminRole, _pgAdminPassword, _pgPort, "postgres", $"CREATE ROLE {BenchRole} LOGIN PASSWORD '{_benchPassword}';");
        await PsqlAsync(PgAdminRole, _pgAdminPassword, _pgPort, "postgres", $"CREATE DATABASE {BenchDatabase} OWNER {BenchRole};");
        var verifier = (await PsqlAsync(PgAdminRole, _pgAdminPassword, _pgPort, "postgres", $"SELECT rolpassword FROM pg_authid WHERE rolname = '{BenchRole}';")).Trim();
        if (!verifier.StartsWith("SCRAM-SHA-256$", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("the bench role's password is not stored as a SCRAM verifier: " + verifier[..Math.Min(20, verifier.Length)]);
        }

        Log($"pgbench -i -s {DbScale} (as {BenchRole})");
        var init = Stopwatch.StartNew();
        var initResult = await RunToolAsync(PgbenchPath(), ["-i", "-s", P(DbScale), "-q", "-h", "127.0.0.1", "-p", P(_pgPort), "-U", BenchRole, BenchDatabase],
            ClientEnv(_benchPassword), TimeSpan.FromMinutes(5));
        if (initResult.ExitCode != 0)
        {
            throw new InvalidOperationException($"pgbench -i failed ({initResult.ExitCode}): {initResult.Error}");
        }
        _pgInitSeconds = init.Elapsed.TotalSeconds;
        _dbPaths.Add(new("pg-direct", $"pgbench → PostgreSQL; SCRAM-SHA-256 login with the password (`PGPASSWORD`), one backend per client connection", _pgPort, _benchPassword, null));

        if (FindOnPath("pgbouncer") is { } pgbouncer)
        {
            _pgbouncerVersion = (await RunToolAsync(pgbouncer, ["--version"])).Output.Split('\n')[0].Trim();
            var port = FreePort();
            var ini = Path.Combine(_pgDir, "pgbouncer.ini");
            var userlist = Path.Combine(_pgDir, "userlist.txt");
            // The verifier as PostgreSQL stores it: pgbouncer checks the client's SCRAM proof with it and, from that
            // proof, logs in to the server with the client's key (no password at pgbouncer).
            await WriteServerPrivateAsync(userlist, $"\"{BenchRole}\" \"{verifier}\"\n");
            await WriteServerPrivateAsync(ini, $"""
                [databases]
                {BenchDatabase} = host=127.0.0.1 port={_pgPort} dbname={BenchDatabase}

                [pgbouncer]
                listen_addr = 127.0.0.1
                listen_port = {port}
                unix_socket_dir =
                auth_type = scram-sha-256
                auth_file = {userlist}
                pool_mode = session
                max_client_conn = 200
                default_pool_size = 20
                log_connections = 0
                log_disconnections = 0
                log_pooler_errors = 1
                logfile =
                pidfile =

                """);
            StartAsServer("pgbouncer", pgbouncer, [ini]);
            await WaitForPortAsync(port);
            _dbPaths.Add(new("pgbouncer", $"pgbench → {_pgbouncerVersion.Replace("PgBouncer", "pgbouncer", StringComparison.Ordinal)} (Debian), `pool_mode = session`, `default_pool_size = 20`, SCRAM with the role's verifier in `auth_file` → PostgreSQL", port, _benchPassword, "pgbouncer"));
        }
        else
        {
            _dbNotes.AppendLine("- pgbouncer is not installed: its rows are missing (loadtests/run.sh --db installs it).");
        }

        var proxyDll = Path.Combine(_root, "proxy", "bin", "Release", "net10.0", "secretless-proxy.dll");
        if (!File.Exists(proxyDll))
        {
            throw new InvalidOperationException($"{proxyDll} is missing: build with 'dotnet build SecretlessProxy.sln -c Release' (loadtests/run.sh does)");
        }
        var gatewayPort = FreePort();
        var config = await GatewayConfigAsync(gatewayPort);
        var (validExit, validOut, validErr) = await RunToolAsync("dotnet", [proxyDll, "validate", "--config", config]);
        if (validExit != 0)
        {
            throw new InvalidOperationException($"secretless-proxy validate refused the gateway's config ({validExit}): {validOut}{validErr}");
        }
        Start("pg-gateway", "dotnet", [proxyDll, "run", "--config", config]);
        await WaitForPortAsync(gatewayPort);
        _dbPaths.Add(new("pg-gateway", "pgbench → SecretlessProxy's PostgreSQL gateway: a plain TCP loopback listener bound to identity `bench`, policy per database and role, a `file` credential, SCRAM-SHA-256 login upstream for every client connection, then a byte relay → PostgreSQL; pgbench sends no password", gatewayPort, null, "pg-gateway"));

        // Every path answers before anything is measured (a wrong config fails here, with its message).
        foreach (var path in _dbPaths)
        {
            var count = (await PsqlAsync(BenchRole, path.Password, path.Port, BenchDatabase, "SELECT count(*) FROM pgbench_branches;")).Trim();
            if (count != P(DbScale))
            {
                throw new InvalidOperationException($"{path.Name}: pgbench_branches has {count} rows, expected {DbScale}");
            }
        }
        Log($"database part: PostgreSQL on {_pgPort}, {string.Join(", ", _dbPaths.Select(p => $"{p.Name} on {p.Port}"))}; init took {_pgInitSeconds:F1} s");
    }

    private async Task<string> GatewayConfigAsync(int port)
    {
        var dir = Path.Combine(_work, "proxy-db");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(_work, "bench.password"), _benchPassword);
        var text = $$"""
            listeners:
              - name: pg
                protocol: postgres
                url: tcp://127.0.0.1:{{port}}
                identity: bench
            identities:
              bench: { spiffeId: "{{BenchId}}" }
            credentials:
              bench-pw:
                provider: file
                path: ../bench.password
            databases:
              {{BenchDatabase}}:
                host: 127.0.0.1
                port: {{_pgPort}}
                sslmode: disable
                auth: scram-sha-256
                roles: { {{BenchRole}}: { credential: bench-pw, user: {{BenchRole}} } }
            policies:
              - name: bench-uses-pgbench
                allow: [bench]
                databases: [{{BenchDatabase}}]
                roles: [{{BenchRole}}]
            decisionLog: { sink: file, path: audit.jsonl, maxFileSize: 64MiB, maxFiles: 1 }
            """;
        var path = Path.Combine(dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    // ---------------------------------------------------------------- measuring

    private async Task MeasureDbAsync(DbPath path, DbScript script, int repeat)
    {
        // What pgbench does before a run unless -n: the runs start alike, and this stays out of the measured window.
        await PsqlAsync(BenchRole, _benchPassword, _pgPort, BenchDatabase, "VACUUM pgbench_branches, pgbench_tellers;");
        await PsqlAsync(BenchRole, _benchPassword, _pgPort, BenchDatabase, "TRUNCATE pgbench_history;");
        var switchesBefore = path.Middle is null ? null : ContextSwitches(path.Middle);
        var before = DbCpuSnapshot(path.Middle);
        var result = await PgbenchAsync(path, script.Args, DbSeconds);
        var after = DbCpuSnapshot(path.Middle);
        var switchesAfter = path.Middle is null ? null : ContextSwitches(path.Middle);
        double? PerTx(long? a, long? b) => a is { } x && b is { } y && result.Transactions > 0 ? (x - y) * 1_000_000.0 / _clockTicks / result.Transactions : null;
        double? other = null;
        var total = after.Total - before.Total;
        if (total > 0)
        {
            var ours = (after.Middle ?? 0) - (before.Middle ?? 0) + after.Postgres - before.Postgres + after.Children - before.Children + after.Self - before.Self;
            other = Math.Max(0, (after.Busy - before.Busy - ours) * 100.0 / total);
        }
        double? switches = SwitchesBetween(switchesBefore, switchesAfter) is { } delta && result.Transactions > 0 ? (double)delta / result.Transactions : null;
        var cell = new DbCell(script.Name, path.Name, repeat, result, PerTx(after.Middle, before.Middle), PerTx(after.Postgres, before.Postgres), PerTx(after.Children, before.Children), other, switches);
        _dbCells.Add(cell);
        var inv = CultureInfo.InvariantCulture;
        Log(string.Create(inv, $"db {script.Name,-11} {path.Name,-10} #{repeat}: {result.Tps,8:F0} tps  latency {result.LatencyMs,7:F3} ms  ")
            + (result.ConnectionMs is { } conn ? string.Create(inv, $"conn {conn,6:F3} ms  ") : "")
            + $"cpu/tx middle {Us(cell.MiddleCpuUs)} postgres {Us(cell.PostgresCpuUs)} pgbench {Us(cell.ClientCpuUs)}  switches/tx {(switches is { } w ? w.ToString("F1", inv) : "-")}  other {(other is { } o ? o.ToString("F0", inv) + "%" : "-")}  failed {result.Failed}"
            + (result.Error is { } e ? $" ({e})" : ""));
    }

    private static string Us(double? us) => us is { } v ? v.ToString("F1", CultureInfo.InvariantCulture) + " µs" : "-";

    private async Task<PgbenchResult> PgbenchAsync(DbPath path, string[] scriptArgs, int seconds)
    {
        string[] args = ["-n", "-c", P(DbClients), "-j", P(DbThreads), "-T", P(seconds), .. scriptArgs, "-h", "127.0.0.1", "-p", P(path.Port), "-U", BenchRole, BenchDatabase];
        var (exit, output, error) = await RunToolAsync(PgbenchPath(), args, ClientEnv(path.Password), TimeSpan.FromSeconds(seconds + 120));
        var text = output + "\n" + error;
        double? Number(Regex regex) => regex.Match(text) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;
        var transactions = (long)(Number(PgbenchTransactions()) ?? 0);
        var failed = (long)(Number(PgbenchFailed()) ?? 0);
        var tps = Number(PgbenchTps());
        string? problem = null;
        if (exit != 0 || tps is null)
        {
            problem = $"pgbench exited {exit}: " + string.Join(" | ", error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(3));
        }
        return new PgbenchResult(transactions, failed, Number(PgbenchDuration()) ?? seconds, tps ?? 0, Number(PgbenchLatency()) ?? double.NaN,
            Number(PgbenchConnection()), Number(PgbenchInitialConnection()), exit, problem);
    }

    /// <summary>CPU clock ticks so far: the middle process (and its reaped children), the PostgreSQL server tree (the postmaster's reaped backends included), this harness's reaped children (pgbench), this harness, and the machine (/proc/stat).</summary>
    private (long? Middle, long Postgres, long Children, long Self, long Busy, long Total) DbCpuSnapshot(string? middle)
    {
        var (self, children) = OwnTicks();
        var (busy, total) = MachineTicks();
        return (middle is null ? null : TreeTicks(middle), TreeTicks("postgres") ?? 0, children, self, busy, total);
    }

    /// <summary>user+system ticks of the process tree of <paramref name="server"/>, plus what its exited children used (cutime+cstime): monotonic even as backends come and go.</summary>
    private long? TreeTicks(string server)
    {
        if (!_pids.TryGetValue(server, out var pid))
        {
            return null;
        }
        long total = 0;
        foreach (var p in ProcessTree(pid))
        {
            if (ReadStat(p) is { } fields)
            {
                total += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                if (p == pid)
                {
                    total += long.Parse(fields[13], CultureInfo.InvariantCulture) + long.Parse(fields[14], CultureInfo.InvariantCulture);
                }
            }
        }
        return total;
    }

    /// <summary>
    /// Context switches (voluntary and not) of each thread of the middle process so far, by thread id. Linux keeps no
    /// per-process total that survives a thread's exit in /proc, so <see cref="SwitchesBetween"/> adds up the threads'
    /// own deltas: a thread that ended meanwhile loses only what it did in the window (thread-pool threads retire when idle).
    /// </summary>
    private Dictionary<int, long>? ContextSwitches(string server)
    {
        if (!_pids.TryGetValue(server, out var pid) || !Directory.Exists($"/proc/{pid}/task"))
        {
            return null;
        }
        var result = new Dictionary<int, long>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                long count = 0;
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        count += long.Parse(line[(line.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
                    }
                }
                result[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = count;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // a thread that ended meanwhile
            }
        }
        return result;
    }

    private static long? SwitchesBetween(Dictionary<int, long>? before, Dictionary<int, long>? after) =>
        before is null || after is null ? null : after.Sum(t => t.Value - before.GetValueOrDefault(t.Key));

    private static (long Self, long Children) OwnTicks()
    {
        var text = File.ReadAllText("/proc/self/stat");
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        long F(int i) => long.Parse(fields[i], CultureInfo.InvariantCulture);
        return (F(11) + F(12), F(13) + F(14));
    }

    private static (long Busy, long Total) MachineTicks()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var total = fields.Sum();
        return (total - fields[3] - fields[4], total);
    }

    // ---------------------------------------------------------------- report

    private List<DbMedian> DbMedians() => _dbCells
        .GroupBy(c => (c.Script, c.Path))
        .Select(g => new DbMedian(g.Key.Script, g.Key.Path, g.Sum(c => c.Result.Transactions), g.Sum(c => c.Result.Failed), g.Count(), g.All(c => c.Result.ExitCode == 0 && c.Result.Error is null),
            Med(g.Select(c => c.Result.Tps)), Med(g.Select(c => c.Result.LatencyMs)), MedOrNull(g.Select(c => c.Result.ConnectionMs)),
            MedOrNull(g.Select(c => c.MiddleCpuUs)), MedOrNull(g.Select(c => c.PostgresCpuUs)), MedOrNull(g.Select(c => c.ClientCpuUs)), MedOrNull(g.Select(c => c.OtherCpuPercent)),
            MedOrNull(g.Select(c => c.MiddleSwitchesPerTx))))
        .OrderBy(m => Array.FindIndex(DbScripts, s => s.Name == m.Script)).ThenBy(m => Array.IndexOf(DbPathOrder, m.Path))
        .ToList();

    private static double? MedOrNull(IEnumerable<double?> values)
    {
        var list = values.ToList();
        return list.Count > 0 && list.All(v => v is not null) ? Med(list.Select(v => v!.Value)) : null;
    }

    private void AppendDatabase(StringBuilder md)
    {
        if (_dbCells.Count == 0)
        {
            return;
        }
        var inv = CultureInfo.InvariantCulture;
        var medians = DbMedians();
        string F(double? v, string format) => v is { } x && !double.IsNaN(x) ? x.ToString(format, inv) : "—";
        string Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 && !double.IsNaN(x) ? (x / y).ToString("F2", inv) : "—";
        DbMedian? Get(string script, string path) => medians.FirstOrDefault(m => m.Script == script && m.Path == path);

        md.AppendLine();
        md.AppendLine("## Database: pgbench through the PostgreSQL gateway, beside direct and pgbouncer");
        md.AppendLine();
        md.AppendLine(string.Create(inv, $"{_pgVersion} on loopback (`fsync`, `synchronous_commit` and `full_page_writes` off, `shared_buffers` 256MB, `max_connections` 200, SCRAM-SHA-256 only, no TLS on any hop: `sslmode=disable`), "
            + $"`pgbench -i -s {DbScale}` once ({_pgInitSeconds:F0} s). Each run: `pgbench -n -c {DbClients} -j {DbThreads} -T {DbSeconds}` and the script, {_options.Repeats} repeat(s) (medians shown), paths interleaved; "
            + $"before each run `VACUUM pgbench_branches, pgbench_tellers; TRUNCATE pgbench_history` (what pgbench does without `-n`), outside the measured window. ")
            + (_options.Smoke ? "No priming (smoke). " : "The gateway was primed first (6 s select-only, 4 s `-C -S`), as every .NET path is. ")
            + "tps and latency are pgbench's own (`tps = … (without initial connection time)`; with `-C`, `(including reconnection times)`, and \"average connection time\" is pgbench's time to connect and log in, per transaction). "
            + "CPU µs/tx = user+system CPU (/proc) over the whole pgbench run divided by the transactions: the middle process (pgbouncer, or the gateway's process); PostgreSQL = the postmaster and every backend, exited ones included; pgbench = the client. Switches/tx = context switches of all the middle process's threads (/proc/PID/task/*/status) per transaction: how often it slept and was woken. "
            + "Other CPU = the share of the machine (all cores) that processes outside the benchmark used meanwhile: a high value means the row is disturbed.");
        // Runtime knobs given to the harness reach the gateway's process too (it inherits the environment): say which.
        var knobs = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal) && !k.StartsWith("DOTNET_CLI_", StringComparison.Ordinal) && k is not ("DOTNET_NOLOGO" or "DOTNET_GENERATE_ASPNET_CERTIFICATE"))
            .Order(StringComparer.Ordinal).Select(k => $"`{k}={Environment.GetEnvironmentVariable(k)}`").ToList();
        if (knobs.Count > 0)
        {
            md.AppendLine();
            md.AppendLine("The gateway's process ran with " + string.Join(", ", knobs) + ".");
        }
        md.AppendLine();
        md.AppendLine("| path | what |");
        md.AppendLine("|---|---|");
        foreach (var p in _dbPaths)
        {
            md.AppendLine(inv, $"| `{p.Name}` | {p.What} |");
        }
        md.AppendLine();
        md.AppendLine("| script | what |");
        md.AppendLine("|---|---|");
        foreach (var s in DbScripts)
        {
            md.AppendLine(inv, $"| {s.Name} | {s.What} |");
        }
        md.AppendLine();
        md.AppendLine("| script | path | tps | latency avg ms | connection ms (-C) | middle CPU µs/tx | middle switches/tx | PostgreSQL CPU µs/tx | pgbench CPU µs/tx | other CPU % | × pg-direct | × pgbouncer | transactions (all runs) | failed |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var m in medians)
        {
            md.AppendLine(inv, $"| {m.Script} | `{m.Path}` | {m.Tps:F0} | {F(m.LatencyMs, "F3")} | {F(m.ConnectionMs, "F3")} | {F(m.MiddleCpuUs, "F1")} | {F(m.MiddleSwitchesPerTx, "F1")} | {F(m.PostgresCpuUs, "F1")} | {F(m.ClientCpuUs, "F1")} | {F(m.OtherCpuPercent, "F0")} | "
                + $"{Ratio(m.Tps, Get(m.Script, "pg-direct")?.Tps)} | {Ratio(m.Tps, Get(m.Script, "pgbouncer")?.Tps)} | {m.Transactions} | {m.Failed}{(m.AllExitedZero ? "" : " (pgbench failed)")} |");
        }

        var rows = new List<string>();
        foreach (var s in DbScripts)
        {
            if (Get(s.Name, "pg-gateway") is not { } g)
            {
                continue;
            }
            var d = Get(s.Name, "pg-direct");
            var b = Get(s.Name, "pgbouncer");
            rows.Add(string.Create(inv, $"| {s.Name} | tps | {g.Tps:F0} | {F(d?.Tps, "F0")} | {F(b?.Tps, "F0")} | **{Ratio(g.Tps, d?.Tps)}** | **{Ratio(g.Tps, b?.Tps)}** |"));
            if (s.Name == "connect")
            {
                // Lower is better: the ratio above 1 means the gateway takes longer to connect.
                rows.Add(string.Create(inv, $"| {s.Name} | connection ms | {F(g.ConnectionMs, "F3")} | {F(d?.ConnectionMs, "F3")} | {F(b?.ConnectionMs, "F3")} | **{Ratio(g.ConnectionMs, d?.ConnectionMs)}** | **{Ratio(g.ConnectionMs, b?.ConnectionMs)}** |"));
            }
            rows.Add(string.Create(inv, $"| {s.Name} | middle CPU µs/tx | {F(g.MiddleCpuUs, "F1")} | — | {F(b?.MiddleCpuUs, "F1")} | — | **{Ratio(g.MiddleCpuUs, b?.MiddleCpuUs)}** |"));
            rows.Add(string.Create(inv, $"| {s.Name} | PostgreSQL CPU µs/tx | {F(g.PostgresCpuUs, "F1")} | {F(d?.PostgresCpuUs, "F1")} | {F(b?.PostgresCpuUs, "F1")} | {Ratio(g.PostgresCpuUs, d?.PostgresCpuUs)} | {Ratio(g.PostgresCpuUs, b?.PostgresCpuUs)} |"));
        }
        md.AppendLine();
        md.AppendLine("### Gateway ratios and targets");
        md.AppendLine();
        md.AppendLine("| script | measure | pg-gateway | pg-direct | pgbouncer | gateway ÷ direct | gateway ÷ pgbouncer |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            md.AppendLine(row);
        }
        md.AppendLine();
        string Target(string what, double? value, double? threshold, bool lowerIsBetter) =>
            value is { } v && threshold is { } t && !double.IsNaN(v) && !double.IsNaN(t)
                ? $"- {what}: **{((lowerIsBetter ? v <= t : v >= t) ? "met" : "not met")}**"
                : $"- {what}: not measured";
        var gs = Get("select-only", "pg-gateway");
        var ds = Get("select-only", "pg-direct");
        var bs = Get("select-only", "pgbouncer");
        var gc = Get("connect", "pg-gateway");
        var bc = Get("connect", "pgbouncer");
        md.AppendLine(Target($"select-only tps ≥ 0.95 × pg-direct ({F(gs?.Tps, "F0")} against {F(ds?.Tps * 0.95, "F0")})", gs?.Tps, ds?.Tps * 0.95, false));
        md.AppendLine(Target($"select-only tps ≥ pgbouncer ({F(gs?.Tps, "F0")} against {F(bs?.Tps, "F0")})", gs?.Tps, bs?.Tps, false));
        md.AppendLine(Target($"`-C` connection time ≤ pgbouncer's ({F(gc?.ConnectionMs, "F3")} ms against {F(bc?.ConnectionMs, "F3")} ms)", gc?.ConnectionMs, bc?.ConnectionMs, true));
        var disturbed = medians.Where(m => m.OtherCpuPercent > DisturbedPercent).Select(m => $"{m.Script} `{m.Path}` ({m.OtherCpuPercent:F0}%)").ToList();
        if (disturbed.Count > 0)
        {
            _dbNotes.AppendLine(string.Create(inv, $"- Disturbed (other processes used more than {DisturbedPercent}% of the machine meanwhile): {string.Join(", ", disturbed)}."));
        }
        if (_dbNotes.Length > 0)
        {
            md.AppendLine();
            md.Append(_dbNotes);
        }
    }

    /// <summary>CSV rows of the database part, in the harness's columns (mode db-SCRIPT, generator pgbench, rps = tps, cpu = the middle process) and the database columns.</summary>
    private void AppendDatabaseCsv(StringBuilder csv)
    {
        var inv = CultureInfo.InvariantCulture;
        string F(double? v, string format) => v is { } x && !double.IsNaN(x) ? x.ToString(format, inv) : "";
        foreach (var c in _dbCells)
        {
            var r = c.Result;
            csv.AppendLine(inv, $"db-{c.Script},pgbench,{c.Path},{DbClients},0,{c.Repeat},{r.Transactions},{r.Failed + (r.Error is null ? 0 : 1)},{r.Seconds:F3},{r.Tps:F1},,,,,{F(c.MiddleCpuUs, "F2")},"
                + $"{F(r.LatencyMs * 1000, "F1")},{F(r.ConnectionMs * 1000, "F1")},{F(r.InitialConnectionMs * 1000, "F1")},{F(c.PostgresCpuUs, "F2")},{F(c.ClientCpuUs, "F2")},{F(c.OtherCpuPercent, "F1")},{F(c.MiddleSwitchesPerTx, "F2")}");
        }
    }

    /// <summary>The database part's failures: every script on every path ran transactions, none failed, pgbench exited 0.</summary>
    private List<string> DatabaseFailures()
    {
        var failures = new List<string>();
        foreach (var m in DbMedians().Where(m => m.Transactions == 0 || m.Failed > 0 || !m.AllExitedZero))
        {
            failures.Add($"db {m.Script} {m.Path}: {m.Transactions} transactions, {m.Failed} failed{(m.AllExitedZero ? "" : ", pgbench failed: " + _dbCells.First(c => c.Script == m.Script && c.Path == m.Path && c.Result.Error is not null).Result.Error)}");
        }
        foreach (var script in DbScripts)
        {
            foreach (var path in _dbPaths.Where(p => !_dbCells.Any(c => c.Script == script.Name && c.Path == p.Name)))
            {
                failures.Add($"db {script.Name} {path.Name}: not run");
            }
        }
        return failures;
    }

    // ---------------------------------------------------------------- processes and tools

    private static string? FindPostgresBin()
    {
        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }
        return Directory.GetDirectories(root)
            .Select(d => (Dir: Path.Combine(d, "bin"), Version: Version.TryParse(Path.GetFileName(d) is var n && n.Contains('.', StringComparison.Ordinal) ? n : n + ".0", out var v) ? v : null))
            .Where(c => c.Version is not null && File.Exists(Path.Combine(c.Dir, "postgres")))
            .OrderByDescending(c => c.Version)
            .Select(c => c.Dir)
            .FirstOrDefault();
    }

    private string PgbenchPath() => Path.Combine(_pgBin!, "pgbench");

    /// <summary>postgres and pgbouncer refuse to run as root: as root they run as Debian's postgres user; as anyone else, as that user (null).</summary>
    private static async Task<(string Name, string Uid, string Gid)?> ServerAccountAsync()
    {
        if (CurrentUid() != "0")
        {
            return null;
        }
        var (exit, uid, _) = await RunToolAsync("id", ["-u", "postgres"]);
        if (exit != 0)
        {
            throw new InvalidOperationException("running as root, and there is no 'postgres' user to run PostgreSQL and pgbouncer as (Debian's postgresql package makes it)");
        }
        var gid = (await RunToolAsync("id", ["-g", "postgres"])).Output.Trim();
        return ("postgres", uid.Trim(), gid);
    }

    private (string File, string[] Args) AsServer(string file, IEnumerable<string> args) => _pgAccount is { } a
        ? ("setpriv", [$"--reuid={a.Uid}", $"--regid={a.Gid}", "--init-groups", "--", file, .. args])
        : (file, [.. args]);

    private void StartAsServer(string name, string file, string[] args)
    {
        var (f, a) = AsServer(file, args);
        Start(name, f, a, _pgDir, CleanPgEnvironment);
    }

    private async Task RunAsServerAsync(string file, string[] args)
    {
        var (f, a) = AsServer(file, args);
        var (exit, output, error) = await RunToolAsync(f, a);
        if (exit != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({exit}): {output}{error}");
        }
    }

    private async Task ChownToServerAsync(string path)
    {
        if (_pgAccount is { } a)
        {
            var (exit, output, error) = await RunToolAsync("chown", [$"{a.Uid}:{a.Gid}", path]);
            if (exit != 0)
            {
                throw new InvalidOperationException($"chown {a.Name} {path} failed ({exit}): {output}{error}");
            }
        }
    }

    private async Task WriteServerPrivateAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path, text);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await ChownToServerAsync(path);
    }

    private async Task<string> PsqlAsync(string user, string? password, int port, string database, string sql)
    {
        var (exit, output, error) = await RunToolAsync(Path.Combine(_pgBin!, "psql"),
            ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", P(port), "-U", user, "-d", database, "-c", sql], ClientEnv(password));
        return exit == 0 ? output : throw new InvalidOperationException($"psql as {user} on port {port} ({database}) failed ({exit}): {error}{output}");
    }

    /// <summary>A libpq client's environment: no TLS, the password when one is sent, no inherited PG* variable, no ~/.pgpass.</summary>
    private Dictionary<string, string> ClientEnv(string? password)
    {
        var env = new Dictionary<string, string>
        {
            ["PGSSLMODE"] = "disable",
            ["PGPASSFILE"] = Path.Combine(_pgDir!, "no-pgpass"),
            ["PGCONNECT_TIMEOUT"] = "10",
            ["LC_ALL"] = "C",
        };
        if (password is not null)
        {
            env["PGPASSWORD"] = password;
        }
        return env;
    }

    private static void CleanPgEnvironment(ProcessStartInfo start)
    {
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }
        start.Environment["LC_ALL"] = "C";
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunToolAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, WorkingDirectory = "/tmp" };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        CleanPgEnvironment(start);
        foreach (var (name, value) in env ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + file);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds} s");
        }
        return (process.ExitCode, await output, await error);
    }

    private static string ReadTail(string path)
    {
        try
        {
            return string.Join('\n', File.ReadLines(path).TakeLast(20));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }

    /// <summary>Stops PostgreSQL with a fast shutdown (so it removes its shared memory), after the processes in front of it, and removes its folder.</summary>
    private async Task StopDatabaseAsync()
    {
        if (_pgDir is null)
        {
            return;
        }
        foreach (var name in new[] { "pg-gateway", "pgbouncer" })
        {
            if (_processes.FirstOrDefault(p => p.Name == name).Process is { HasExited: false } process)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        if (_pgBin is not null && _processes.FirstOrDefault(p => p.Name == "postgres").Process is { HasExited: false } postgres)
        {
            try
            {
                await RunAsServerAsync(Path.Combine(_pgBin, "pg_ctl"), ["stop", "-D", Path.Combine(_pgDir, "data"), "-m", "fast", "-w", "-t", "30"]);
                await postgres.WaitForExitAsync();
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                Console.Error.WriteLine("loadkit: " + ex.Message);
            }
        }
        try
        {
            Directory.Delete(_pgDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [GeneratedRegex(@"number of transactions actually processed: (\d+)")]
    private static partial Regex PgbenchTransactions();

    [GeneratedRegex(@"number of failed transactions: (\d+)")]
    private static partial Regex PgbenchFailed();

    [GeneratedRegex(@"^tps = ([\d.]+) \((?:without initial connection time|including reconnection times)\)", RegexOptions.Multiline)]
    private static partial Regex PgbenchTps();

    [GeneratedRegex(@"^latency average = ([\d.]+) ms", RegexOptions.Multiline)]
    private static partial Regex PgbenchLatency();

    [GeneratedRegex(@"^average connection time = ([\d.]+) ms", RegexOptions.Multiline)]
    private static partial Regex PgbenchConnection();

    [GeneratedRegex(@"^initial connection time = ([\d.]+) ms", RegexOptions.Multiline)]
    private static partial Regex PgbenchInitialConnection();

    [GeneratedRegex(@"^duration: (\d+) s", RegexOptions.Multiline)]
    private static partial Regex PgbenchDuration();
}
