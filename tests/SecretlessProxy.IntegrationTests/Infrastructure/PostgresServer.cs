using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Databases;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>How <see cref="PostgresServer.StartAsync"/> sets up its server. Every setting has a working default.</summary>
public sealed class PostgresServerOptions
{
    /// <summary>
    /// The certificate (PEM, optionally followed by its chain) the server presents, with <see cref="ServerKeyPath"/>;
    /// both or neither. When neither is given, the fixture mints its own CA and a certificate for localhost and 127.0.0.1.
    /// </summary>
    public string? ServerCertificatePath { get; init; }

    /// <summary>The private key (PEM) of <see cref="ServerCertificatePath"/>.</summary>
    public string? ServerKeyPath { get; init; }

    /// <summary>The CA that issued <see cref="ServerCertificatePath"/> (e.g. <see cref="TestPki.ServerCaPath"/>), for clients that verify; optional.</summary>
    public string? CaCertificatePath { get; init; }

    /// <summary>postgresql.conf max_connections.</summary>
    public int MaxConnections { get; init; } = 200;

    /// <summary>When true, TCP clients must use TLS (hostssl lines, and a hostnossl reject line); otherwise plain TCP is accepted too.</summary>
    public bool RequireTls { get; init; }

    /// <summary>More postgresql.conf settings (name → value; the value is written as a quoted string, which every setting accepts).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>How long the server may take to accept connections before the start fails (with its log).</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>What a psql run gave: its exit code and both outputs.</summary>
public sealed record PsqlResult(int ExitCode, string Output, string Error)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// A real PostgreSQL server (Debian's postgresql package, the highest version under /usr/lib/postgresql/*/bin) in a
/// fresh temporary directory, on 127.0.0.1 at a free port, with its Unix socket in that directory. postgres refuses
/// to run as root, so when the tests run as root (as CI does) initdb, postgres and pg_ctl run as the Debian package's
/// <c>postgres</c> system user (a system user <c>secretless-it-postgres</c> is made when that one is missing); as any
/// other user they run as that user.
/// <para>
/// No <c>trust</c> and no <c>peer</c> line is ever in pg_hba.conf: initdb makes the bootstrap superuser
/// <see cref="AdminRole"/> itself, with a SCRAM password (initdb --pwfile), and the final pg_hba.conf is written before
/// the server first starts; the fixture then sets everything up as that admin over TCP and TLS with SCRAM, as any
/// client would. Roles: <see cref="AdminRole"/> (superuser, SCRAM), <see cref="ScramRole"/> (SCRAM),
/// <see cref="Md5Role"/> (password stored as an md5 hash, pg_hba method md5), <see cref="PasswordRole"/> (pg_hba method
/// password: cleartext on the wire; stored as SCRAM). Each has a fresh random password (<see cref="Password"/>).
/// The database <see cref="DatabaseName"/>, owned by the admin, holds <c>items(id int primary key, name text)</c> with
/// <see cref="Items"/>, readable by the three app roles.
/// </para>
/// <para>
/// TLS is on (the given or a minted certificate), password_encryption is scram-sha-256, connections and
/// disconnections are logged with user and database in each line's prefix, to a file (<see cref="LogText"/>); fsync is
/// off. <see cref="StopAsync"/> stops it (fast shutdown) to simulate an upstream that is down,
/// <see cref="KillAsync"/> kills it as a crash would, <see cref="StartAgainAsync"/> brings it back on the same port.
/// </para>
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string AdminRole = "secretless_admin";
    public const string ScramRole = "app_scram";
    public const string Md5Role = "app_md5";
    public const string PasswordRole = "app_password";
    public const string DatabaseName = "orders";

    /// <summary>The rows of orders.items.</summary>
    public static IReadOnlyList<(int Id, string Name)> Items { get; } = [(1, "widget"), (2, "gadget"), (3, "gizmo")];

    private const string FallbackOsUser = "secretless-it-postgres";
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private static readonly SemaphoreSlim UserGate = new(1, 1);
    private static readonly Lazy<string?> Bin = new(FindBinDirectory);
    private static OsAccount? _account;

    private readonly OsAccount _os;
    private readonly PostgresServerOptions _options;
    private readonly ConcurrentDictionary<string, string> _passwords = new(StringComparer.Ordinal);
    private readonly HashSet<string> _md5Roles = new(StringComparer.Ordinal) { Md5Role };
    private readonly StringBuilder _launcherOutput = new();
    private readonly Lock _gate = new();
    private Process? _process;

    private PostgresServer(OsAccount os, PostgresServerOptions options, string directory, int port)
    {
        _os = os;
        _options = options;
        Directory = directory;
        Port = port;
    }

    /// <summary>The directory under /usr/lib/postgresql holding initdb, postgres, pg_ctl, psql and pgbench (the highest version).</summary>
    public static string BinDirectory => Bin.Value ?? throw new InvalidOperationException(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): run 'bash scripts/test.sh' (it installs Debian's postgresql)");

    /// <summary>psql, from <see cref="BinDirectory"/> (or Debian's wrapper in /usr/bin).</summary>
    public static string PsqlPath => Tool("psql");

    /// <summary>pgbench, from <see cref="BinDirectory"/> (or Debian's wrapper in /usr/bin).</summary>
    public static string PgbenchPath => Tool("pgbench");

    /// <summary>The fixture's own directory (deleted on dispose): the data directory, the log, the Unix socket and readable copies of the certificates.</summary>
    public string Directory { get; }

    public string DataDirectory => Path.Combine(Directory, "data");

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "an instance property, as the other connection facts are")]
    public string Host => "127.0.0.1";

    public int Port { get; private set; }

    /// <summary>unix_socket_directories: the socket is <c>{SocketDirectory}/.s.PGSQL.{Port}</c>; pass this directory as a host to connect over it.</summary>
    public string SocketDirectory => Directory;

    public string SocketPath => Path.Combine(SocketDirectory, $".s.PGSQL.{Port.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>The Unix user the server runs as.</summary>
    public string OsUser => _os.Name;

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "an instance property, as AdminPassword is")]
    public string AdminUser => AdminRole;

    public string AdminPassword => Password(AdminRole);

    /// <summary>The certificate the server presents (a readable copy).</summary>
    public string ServerCertificatePath => Path.Combine(Directory, "server.crt");

    /// <summary>The CA that issued <see cref="ServerCertificatePath"/> (a readable copy), or null when the options gave a certificate without one.</summary>
    public string? CaCertificatePath { get; private set; }

    public string LogPath => Path.Combine(Directory, "postgres.log");

    /// <summary>The server log so far (every line prefixed with time, pid, user, database, application and client).</summary>
    public string LogText => ReadLog();

    /// <summary>Whether the postmaster is running (as far as this fixture started it).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The current password of <paramref name="role"/> (one of the fixture's roles or one made by <see cref="CreateRoleAsync"/>).</summary>
    public string Password(string role) => _passwords.TryGetValue(role, out var password)
        ? password
        : throw new ArgumentException($"the fixture knows no role {role} (known: {string.Join(", ", _passwords.Keys)})", nameof(role));

    /// <summary>The server log so far, read asynchronously.</summary>
    public async Task<string> ReadLogAsync()
    {
        try
        {
            await using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, useAsync: true);
            using var reader = new StreamReader(stream);
            return await reader.ReadToEndAsync();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "";
        }
    }

    public static async Task<PostgresServer> StartAsync(PostgresServerOptions? options = null)
    {
        options ??= new PostgresServerOptions();
        if ((options.ServerCertificatePath is null) != (options.ServerKeyPath is null))
        {
            throw new ArgumentException("give both ServerCertificatePath and ServerKeyPath, or neither", nameof(options));
        }
        _ = BinDirectory;
        var os = await EnsureOsAccountAsync();
        // Under /tmp when the server runs as another user: TMPDIR may be a directory that user cannot enter (and a long
        // one would not fit the 107-byte Unix socket path).
        var directory = os.IsSelf
            ? System.IO.Directory.CreateTempSubdirectory("secretless-pg-").FullName
            : Path.Combine("/tmp", "secretless-pg-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        System.IO.Directory.CreateDirectory(directory);
        var server = new PostgresServer(os, options, directory, LoopbackPorts.Next());
        try
        {
            await server.InitializeAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task InitializeAsync()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the PostgreSQL fixture runs Debian's postgres: Linux only");
        }
        // The fixture directory: the server's (owner), traversable by all so other local users can reach the socket.
        await ChownAsync(Directory);
        File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);

        foreach (var role in new[] { AdminRole, ScramRole, Md5Role, PasswordRole })
        {
            _passwords[role] = NewPassword(role);
        }
        var pwfile = Path.Combine(Directory, "admin-password");
        await WritePrivateAsync(pwfile, AdminPassword + "\n");
        await RunAsServerAsync(Path.Combine(BinDirectory, "initdb"),
            ["-D", DataDirectory, "-U", AdminRole, "--pwfile", pwfile, "--auth-local", "scram-sha-256", "--auth-host", "scram-sha-256",
             "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]);
        File.Delete(pwfile);

        await InstallCertificateAsync();
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), Configuration());
        await File.WriteAllTextAsync(Path.Combine(DataDirectory, "pg_hba.conf"), HbaConfiguration());
        await ChownAsync(Path.Combine(DataDirectory, "pg_hba.conf"));

        // A port from LoopbackPorts can still be taken by another test process before postgres binds it: try another.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await StartAgainAsync();
                break;
            }
            catch (InvalidOperationException) when (attempt < 5 && !IsRunning && PortWasTaken())
            {
                Port = LoopbackPorts.Next();
            }
        }

        await QueryAsync($"""
            CREATE ROLE {ScramRole} LOGIN PASSWORD {Literal(Password(ScramRole))};
            CREATE ROLE {PasswordRole} LOGIN PASSWORD {Literal(Password(PasswordRole))};
            SET password_encryption = 'md5';
            CREATE ROLE {Md5Role} LOGIN PASSWORD {Literal(Password(Md5Role))};
            RESET password_encryption;
            CREATE DATABASE {DatabaseName} OWNER {AdminRole};
            """, database: "postgres");
        var rows = string.Join(", ", Items.Select(i => $"({i.Id.ToString(CultureInfo.InvariantCulture)}, {Literal(i.Name)})"));
        await QueryAsync($"""
            CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
            INSERT INTO items VALUES {rows};
            GRANT SELECT ON items TO {ScramRole}, {Md5Role}, {PasswordRole};
            """);
    }

    private async Task InstallCertificateAsync()
    {
        string certificate, key;
        if (_options.ServerCertificatePath is { } given)
        {
            certificate = given;
            key = _options.ServerKeyPath!;
            if (_options.CaCertificatePath is { } ca)
            {
                CaCertificatePath = Path.Combine(Directory, "ca.crt");
                File.Copy(ca, CaCertificatePath);
            }
        }
        else
        {
            using var ca = DevCertificateAuthority.Create("postgres test CA", TimeSpan.FromDays(2));
            using var issued = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
            certificate = Path.Combine(Directory, "minted.crt");
            key = Path.Combine(Directory, "minted.key");
            DevCertificateAuthority.WritePem(issued, certificate, key);
            CaCertificatePath = Path.Combine(Directory, "ca.crt");
            await File.WriteAllTextAsync(CaCertificatePath, ca.Certificate.ExportCertificatePem() + "\n");
        }
        File.Copy(certificate, ServerCertificatePath);
        // postgres insists the key is the server user's and not readable by others; the certificate is copied alike.
        foreach (var (source, name) in new[] { (certificate, "server.crt"), (key, "server.key") })
        {
            var target = Path.Combine(DataDirectory, name);
            await WritePrivateAsync(target, await File.ReadAllTextAsync(source));
        }
        if (_options.ServerCertificatePath is null)
        {
            File.Delete(key);
            File.Delete(certificate);
        }
    }

    private string Configuration()
    {
        var settings = new List<(string, string)>
        {
            ("listen_addresses", Host),
            ("unix_socket_directories", SocketDirectory),
            ("max_connections", _options.MaxConnections.ToString(CultureInfo.InvariantCulture)),
            ("shared_buffers", "32MB"),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("ssl", "on"),
            ("ssl_cert_file", "server.crt"),
            ("ssl_key_file", "server.key"),
            ("password_encryption", "scram-sha-256"),
            ("log_destination", "stderr"),
            ("logging_collector", "off"),
            ("log_connections", "on"),
            ("log_disconnections", "on"),
            ("log_line_prefix", "%m [%p] user=%u db=%d app=%a client=%h "),
            ("lc_messages", "C"),
            ("log_timezone", "UTC"),
            ("timezone", "UTC"),
        };
        settings.AddRange(_options.Settings.Select(s => (s.Key, s.Value)));
        var text = new StringBuilder("\n# SecretlessProxy test fixture (PostgresServer); the port is given on the command line\n");
        foreach (var (name, value) in settings)
        {
            text.Append(name).Append(" = ").Append(Literal(value)).Append('\n');
        }
        return text.ToString();
    }

    private string HbaConfiguration()
    {
        var tcp = _options.RequireTls ? "hostssl" : "host";
        var text = new StringBuilder("""
            # SecretlessProxy test fixture (PostgresServer): no trust, no peer. app_md5 uses md5, app_password cleartext
            # password, every other role SCRAM, over the Unix socket and over TCP from 127.0.0.1.
            # TYPE   DATABASE  USER          ADDRESS        METHOD

            """);
        foreach (var type in new[] { "local", tcp })
        {
            var address = type == "local" ? "" : "127.0.0.1/32";
            text.Append(CultureInfo.InvariantCulture, $"{type,-8} all       {Md5Role,-13} {address,-14} md5\n");
            text.Append(CultureInfo.InvariantCulture, $"{type,-8} all       {PasswordRole,-13} {address,-14} password\n");
            text.Append(CultureInfo.InvariantCulture, $"{type,-8} all       {"all",-13} {address,-14} scram-sha-256\n");
        }
        if (_options.RequireTls)
        {
            text.Append(CultureInfo.InvariantCulture, $"{"hostnossl",-8} all       {"all",-13} {"127.0.0.1/32",-14} reject\n");
        }
        return text.ToString();
    }

    /// <summary>Starts the server (again, after <see cref="StopAsync"/> or <see cref="KillAsync"/>) on its port and waits until it accepts connections.</summary>
    public async Task StartAgainAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"postgres on port {Port} is already running");
        }
        // sh, as the server user, appends postgres's stderr (its log) to the log file, then becomes postgres itself.
        var start = ServerProcess("/bin/sh", ["-c", "exec \"$0\" -D \"$1\" -p \"$2\" >>\"$3\" 2>&1",
            Path.Combine(BinDirectory, "postgres"), DataDirectory, Port.ToString(CultureInfo.InvariantCulture), LogPath]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, e) => Capture(e.Data);
        process.ErrorDataReceived += (_, e) => Capture(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        try
        {
            await Eventually.Until(async () =>
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"postgres on port {Port} exited ({process.ExitCode}) while starting\n{Diagnostics()}");
                }
                var (exit, _, _) = await RunAsync(Path.Combine(BinDirectory, "pg_isready"), ["-q", "-h", Host, "-p", Port.ToString(CultureInfo.InvariantCulture), "-t", "2"]);
                return exit == 0;
            }, $"postgres accepts connections on {Host}:{Port}", _options.StartTimeout);
        }
        catch (TimeoutException ex)
        {
            await KillAsync();
            throw new InvalidOperationException($"{ex.Message}\n{Diagnostics()}", ex);
        }
    }

    /// <summary>Stops the server with a fast shutdown (clients are disconnected, the port closes) and waits until it has exited.</summary>
    public async Task StopAsync()
    {
        if (_process is not { } process || process.HasExited)
        {
            return;
        }
        var (exit, output, error) = await RunAsServerNoThrowAsync(Path.Combine(BinDirectory, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "30"]);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
            throw new InvalidOperationException($"postgres on port {Port} did not stop (pg_ctl stop: {exit} {output}{error})\n{Diagnostics()}");
        }
    }

    /// <summary>Kills the postmaster and its backends at once (SIGKILL), as a crash would: connections drop without a goodbye.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Runs <paramref name="sql"/> with psql over TCP and TLS as <paramref name="user"/> (with the fixture's password for it) and returns psql's output (unaligned, tuples only); throws when psql fails.</summary>
    public async Task<string> QueryAsync(string sql, string user = AdminRole, string database = DatabaseName)
    {
        var result = await TryQueryAsync(sql, user, database);
        return result.Succeeded
            ? result.Output
            : throw new InvalidOperationException($"psql as {user} on {database} failed ({result.ExitCode}): {result.Error}{result.Output}");
    }

    /// <summary>
    /// Runs <paramref name="sql"/> (several statements are sent one by one) with
    /// <c>psql -X -A -t -q -v ON_ERROR_STOP=1</c> and returns what happened, failing or not.
    /// </summary>
    /// <param name="password">The password to send; the fixture's password for <paramref name="user"/> when null (none for an unknown role).</param>
    /// <param name="host">127.0.0.1 when null; <see cref="SocketDirectory"/> for the Unix socket.</param>
    /// <param name="sslMode">PGSSLMODE (TCP only). The fixture's CA is PGSSLROOTCERT when it has one, so <c>verify-full</c> works (and <c>require</c> verifies too, as libpq does when a root certificate is present).</param>
    public async Task<PsqlResult> TryQueryAsync(string sql, string user = AdminRole, string database = DatabaseName, string? password = null, string? host = null, string sslMode = "require")
    {
        var env = ClientEnvironment(password ?? (_passwords.TryGetValue(user, out var known) ? known : ""), sslMode);
        var (exit, output, error) = await RunAsync(PsqlPath,
            ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", host ?? Host, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", user, "-d", database, "-f", "-"],
            env, sql);
        return new PsqlResult(exit, output, error);
    }

    /// <summary>The environment for a libpq client of this server (psql, pgbench): PGPASSWORD, PGSSLMODE, PGSSLROOTCERT and no other inherited PG* variable.</summary>
    public IReadOnlyDictionary<string, string> ClientEnvironment(string password, string sslMode = "require") => new Dictionary<string, string>
    {
        ["PGPASSWORD"] = password,
        ["PGSSLMODE"] = sslMode,
        // Set even without a CA: a root certificate in ~/.postgresql would otherwise be used (a missing file is skipped by require).
        ["PGSSLROOTCERT"] = CaCertificatePath ?? Path.Combine(Directory, "no-root-certificate"),
        ["PGPASSFILE"] = Path.Combine(Directory, "no-pgpass"),
        ["PGCONNECT_TIMEOUT"] = "10",
        ["PGAPPNAME"] = "secretless-fixture",
        ["LC_ALL"] = "C.UTF-8",
    };

    /// <summary>Creates a login role with a SCRAM password (generated when null) that may read orders.items; returns the password.</summary>
    public async Task<string> CreateRoleAsync(string role, string? password = null)
    {
        password ??= NewPassword(role);
        await QueryAsync($"CREATE ROLE {Identifier(role)} LOGIN PASSWORD {Literal(password)};\nGRANT SELECT ON items TO {Identifier(role)};");
        _passwords[role] = password;
        return password;
    }

    /// <summary>Changes <paramref name="role"/>'s password (md5-stored for <see cref="Md5Role"/>, SCRAM otherwise), as a rotation would; <see cref="Password"/> follows.</summary>
    public async Task SetPasswordAsync(string role, string password)
    {
        var encryption = _md5Roles.Contains(role) ? "md5" : "scram-sha-256";
        await QueryAsync($"SET password_encryption = '{encryption}';\nALTER ROLE {Identifier(role)} PASSWORD {Literal(password)};");
        _passwords[role] = password;
    }

    /// <summary>How many client backends <paramref name="role"/> has open now (pg_stat_activity).</summary>
    public async Task<int> CountConnectionsAsync(string role) => int.Parse((await QueryAsync(
        $"SELECT count(*) FROM pg_stat_activity WHERE usename = {Literal(role)} AND backend_type = 'client backend' AND pid <> pg_backend_pid();")).Trim(), CultureInfo.InvariantCulture);

    /// <summary>Terminates every backend of <paramref name="role"/> (pg_terminate_backend) and returns how many there were.</summary>
    public async Task<int> TerminateConnectionsAsync(string role) => int.Parse((await QueryAsync(
        $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = {Literal(role)} AND pid <> pg_backend_pid();")).Trim(), CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            await KillAsync();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // temp cleanup is best effort
            }
        }
    }

    private string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "";
        }
    }

    private bool PortWasTaken()
    {
        var log = ReadLog();
        return log.Contains("could not bind IPv4 address", StringComparison.Ordinal) || log.Contains("Address already in use", StringComparison.Ordinal);
    }

    private void Capture(string? line)
    {
        if (line is not null)
        {
            lock (_gate)
            {
                _launcherOutput.AppendLine(line);
            }
        }
    }

    private string Diagnostics()
    {
        string launcher;
        lock (_gate)
        {
            launcher = _launcherOutput.ToString();
        }
        return $"--- server log ({LogPath}):\n{ReadLog()}" + (launcher.Length > 0 ? $"\n--- launcher output:\n{launcher}" : "");
    }

    private static string NewPassword(string role) => $"pg-{role.Replace('_', '-')}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}";

    private static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private async Task WritePrivateAsync(string path, string text)
    {
        await File.WriteAllTextAsync(path, text);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        await ChownAsync(path);
    }

    private async Task ChownAsync(string path)
    {
        if (_os.IsSelf)
        {
            return;
        }
        var (exit, output, error) = await RunAsync("chown", [$"{_os.Uid}:{_os.Gid}", path]);
        if (exit != 0)
        {
            throw new InvalidOperationException($"chown {_os.Name} {path} failed ({exit}): {output}{error}");
        }
    }

    private ProcessStartInfo ServerProcess(string file, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(_os.IsSelf ? file : "setpriv") { WorkingDirectory = Directory, UseShellExecute = false };
        if (!_os.IsSelf)
        {
            foreach (var arg in new[] { $"--reuid={_os.Uid}", $"--regid={_os.Gid}", "--init-groups", "--", file })
            {
                start.ArgumentList.Add(arg);
            }
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        Clean(start, new Dictionary<string, string> { ["LC_ALL"] = "C" });
        return start;
    }

    private async Task RunAsServerAsync(string file, IEnumerable<string> args)
    {
        var list = args.ToList();
        var (exit, output, error) = await RunAsServerNoThrowAsync(file, list);
        if (exit != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', list)} as {_os.Name} failed ({exit}): {output}{error}");
        }
    }

    private Task<(int ExitCode, string Output, string Error)> RunAsServerNoThrowAsync(string file, IEnumerable<string> args) =>
        RunToEndAsync(ServerProcess(file, args), null);

    /// <summary>
    /// psql with a libpq connection string and no password anywhere (no PGPASSWORD, no password file): a client of the
    /// gateway, which logs in upstream for it. Output trimmed.
    /// </summary>
    public static async Task<(int Exit, string Output, string Error)> PsqlWithoutPasswordAsync(string connection, string sql)
    {
        var start = new System.Diagnostics.ProcessStartInfo(PsqlPath) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", connection, "-c", sql })
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["PGPASSFILE"] = "/nonexistent";
        start.Environment["PGCONNECT_TIMEOUT"] = "10";
        start.Environment.Remove("PGPASSWORD");
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await output).Trim(), await error);
    }

    private static Task<(int ExitCode, string Output, string Error)> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null, string? input = null)
    {
        var start = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        Clean(start, env ?? new Dictionary<string, string>());
        return RunToEndAsync(start, input);
    }

    /// <summary>Drops inherited PG* variables (PGHOST, PGSERVICE, PGOPTIONS... would change what a tool does), then sets <paramref name="env"/>.</summary>
    private static void Clean(ProcessStartInfo start, IReadOnlyDictionary<string, string> env)
    {
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("PG", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }
        foreach (var (name, value) in env)
        {
            start.Environment[name] = value;
        }
    }

    private static async Task<(int ExitCode, string Output, string Error)> RunToEndAsync(ProcessStartInfo start, string? input)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.RedirectStandardInput = true;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        // Written to the raw stream so no text stays buffered in the writer: a tool that exits before it reads its
        // input (a refused login does) breaks the pipe, and its exit code and stderr then say why.
        var stdin = process.StandardInput.BaseStream;
        try
        {
            if (input is not null)
            {
                await stdin.WriteAsync(System.Text.Encoding.UTF8.GetBytes(input));
            }
            await stdin.DisposeAsync();
        }
        catch (IOException)
        {
        }
        using var timeout = new CancellationTokenSource(ToolTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} did not finish in {ToolTimeout.TotalSeconds} s");
        }
        return (process.ExitCode, await output, await error);
    }

    private static string Tool(string name)
    {
        var path = Path.Combine(BinDirectory, name);
        if (File.Exists(path))
        {
            return path;
        }
        return File.Exists(Path.Combine("/usr/bin", name)) ? Path.Combine("/usr/bin", name)
            : throw new InvalidOperationException($"{name} is not installed: run 'bash scripts/test.sh' (it installs Debian's postgresql)");
    }

    private static string? FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        if (!System.IO.Directory.Exists(root))
        {
            return null;
        }
        return System.IO.Directory.GetDirectories(root)
            .Select(d => (Dir: Path.Combine(d, "bin"), Version: Version.TryParse(Path.GetFileName(d) is var n && n.Contains('.', StringComparison.Ordinal) ? n : n + ".0", out var v) ? v : null))
            .Where(c => c.Version is not null && File.Exists(Path.Combine(c.Dir, "postgres")))
            .OrderByDescending(c => c.Version)
            .Select(c => c.Dir)
            .FirstOrDefault();
    }

    /// <summary>The Unix account the server runs as: postgres (or a fallback system user) when the tests run as root, the current user otherwise.</summary>
    private static async Task<OsAccount> EnsureOsAccountAsync()
    {
        await UserGate.WaitAsync();
        try
        {
            if (_account is not null)
            {
                return _account;
            }
            var self = (await RunAsync("id", ["-u"])).Output.Trim();
            if (self != "0")
            {
                var name = (await RunAsync("id", ["-un"])).Output.Trim();
                return _account = new OsAccount(name, self, (await RunAsync("id", ["-g"])).Output.Trim(), IsSelf: true);
            }
            var user = "postgres";
            if ((await RunAsync("id", ["-u", user])).ExitCode != 0)
            {
                user = FallbackOsUser;
                if ((await RunAsync("id", ["-u", user])).ExitCode != 0)
                {
                    var (exit, output, error) = await RunAsync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", user]);
                    if (exit != 0)
                    {
                        throw new InvalidOperationException($"useradd {user} failed ({exit}): {output}{error}");
                    }
                }
            }
            var uid = (await RunAsync("id", ["-u", user])).Output.Trim();
            var gid = (await RunAsync("id", ["-g", user])).Output.Trim();
            return _account = new OsAccount(user, uid, gid, IsSelf: false);
        }
        finally
        {
            UserGate.Release();
        }
    }

    private sealed record OsAccount(string Name, string Uid, string Gid, bool IsSelf);
}
