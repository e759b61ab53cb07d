using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A real MariaDB server (Debian's mariadb-server) in a fresh temporary directory: <c>mariadb-install-db</c> makes the
/// data directory, <c>mariadbd</c> listens on 127.0.0.1 at a free port and on a Unix socket in that directory, with
/// TLS (a certificate minted for localhost and 127.0.0.1 by a CA of its own, <see cref="CaCertificatePath"/>) and the
/// general log on (<see cref="ReadGeneralLogAsync"/>: every connection and statement). It is killed and its
/// directory deleted on dispose. As root (CI) it runs as root (<c>--user=root</c>).
/// <para>
/// Users (each with a fresh random password, <see cref="Password"/>): <see cref="AdminUser"/> (all privileges, with
/// grant option), <see cref="NativeUser"/> (mysql_native_password, SELECT on <see cref="DatabaseName"/>) and, when the
/// server's auth_ed25519 plugin loads, <see cref="Ed25519User"/>. <see cref="DatabaseName"/>.items holds <see cref="Items"/>.
/// The fixture itself talks to the server with the <c>mariadb</c> client as root over the socket.
/// </para>
/// </summary>
public sealed class MariaDbServer : IAsyncDisposable
{
    public const string AdminUser = "secretless_admin";
    public const string NativeUser = "app_native";
    public const string Ed25519User = "app_ed25519";
    public const string DatabaseName = "shop";

    public static IReadOnlyList<(int Id, string Name)> Items { get; } = [(1, "widget"), (2, "gadget"), (3, "gizmo")];

    private readonly ConcurrentDictionary<string, string> _passwords = new(StringComparer.Ordinal);
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();
    private Process? _process;

    private MariaDbServer(string directory, int port)
    {
        Directory = directory;
        Port = port;
    }

    public string Directory { get; }

    public int Port { get; }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "a connection fact, as Port is")]
    public string Host => "127.0.0.1";

    public string SocketPath => Path.Combine(Directory, "mysqld.sock");

    public string CaCertificatePath => Path.Combine(Directory, "ca.pem");

    public string GeneralLogPath => Path.Combine(Directory, "general.log");

    public string RootPassword => Password("root");

    /// <summary>Whether <see cref="Ed25519User"/> exists (the auth_ed25519 plugin loaded).</summary>
    public bool HasEd25519 { get; private set; }

    public string Password(string user) => _passwords.TryGetValue(user, out var password)
        ? password
        : throw new ArgumentException($"the fixture knows no user {user}", nameof(user));

    /// <summary>The mariadb client (Debian's mariadb-client; mysql on older releases).</summary>
    public static string ClientPath => Tool("mariadb", "mysql");

    public static async Task<MariaDbServer> StartAsync()
    {
        var directory = Path.Combine("/tmp", "secretless-maria-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        System.IO.Directory.CreateDirectory(directory);
        var server = new MariaDbServer(directory, LoopbackPorts.Next());
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
        var data = Path.Combine(Directory, "data");
        // A temporary directory of its own: two servers bootstrapping at once in /tmp collide on their temporary tables.
        var tmp = Path.Combine(Directory, "tmp");
        System.IO.Directory.CreateDirectory(tmp);
        var asRoot = Environment.UserName == "root";
        var install = await ChildProcess.RunAsync(Tool("mariadb-install-db", "mysql_install_db"),
            ["--no-defaults", "--datadir=" + data, "--tmpdir=" + tmp, "--auth-root-authentication-method=normal", "--skip-test-db", .. asRoot ? new[] { "--user=root" } : []]);
        if (install.ExitCode != 0)
        {
            throw new InvalidOperationException($"mariadb-install-db failed ({install.ExitCode}): {install.Error}\n{install.Output}");
        }
        using (var ca = DevCertificateAuthority.Create("mariadb test CA", TimeSpan.FromDays(2)))
        using (var issued = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1)))
        {
            DevCertificateAuthority.WritePem(issued, Path.Combine(Directory, "server.pem"), Path.Combine(Directory, "server.key"));
            await File.WriteAllTextAsync(CaCertificatePath, ca.Certificate.ExportCertificatePem() + "\n");
        }
        var start = new ProcessStartInfo(Tool("mariadbd", "mysqld")) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
        {
            "--no-defaults", "--datadir=" + data, "--tmpdir=" + tmp, "--port=" + Port.ToString(CultureInfo.InvariantCulture), "--bind-address=127.0.0.1", "--socket=" + SocketPath,
            "--pid-file=" + Path.Combine(Directory, "mysqld.pid"), "--log-error=" + Path.Combine(Directory, "error.log"), "--general-log=1", "--general-log-file=" + GeneralLogPath,
            "--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--max-connections=200", "--performance-schema=OFF",
            "--ssl-ca=" + CaCertificatePath, "--ssl-cert=" + Path.Combine(Directory, "server.pem"), "--ssl-key=" + Path.Combine(Directory, "server.key"),
        })
        {
            start.ArgumentList.Add(arg);
        }
        if (asRoot)
        {
            start.ArgumentList.Add("--user=root");
        }
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.Until(async () =>
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"mariadbd exited ({_process.ExitCode}): {ReadErrorLog()}\n{Output()}");
            }
            return File.Exists(SocketPath) && await AcceptsAsync();
        }, "mariadbd accepts connections", TimeSpan.FromSeconds(60));

        foreach (var user in new[] { "root", AdminUser, NativeUser, Ed25519User })
        {
            _passwords[user] = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        }
        await RunAsync($"""
            ALTER USER 'root'@'localhost' IDENTIFIED BY '{RootPassword}';
            CREATE USER '{AdminUser}'@'%' IDENTIFIED BY '{Password(AdminUser)}';
            GRANT ALL PRIVILEGES ON *.* TO '{AdminUser}'@'%' WITH GRANT OPTION;
            CREATE DATABASE {DatabaseName};
            CREATE TABLE {DatabaseName}.items (id INT PRIMARY KEY, name VARCHAR(64));
            INSERT INTO {DatabaseName}.items VALUES {string.Join(", ", Items.Select(i => $"({i.Id}, '{i.Name}')"))};
            CREATE USER '{NativeUser}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('{Password(NativeUser)}');
            GRANT SELECT ON {DatabaseName}.* TO '{NativeUser}'@'%';
            """, password: "");
        var ed = await QueryOrErrorAsync($"""
            INSTALL SONAME 'auth_ed25519';
            CREATE USER '{Ed25519User}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{Password(Ed25519User)}');
            GRANT SELECT ON {DatabaseName}.* TO '{Ed25519User}'@'%';
            """);
        HasEd25519 = ed.ExitCode == 0;
    }

    private async Task<bool> AcceptsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Runs SQL as root over the socket and returns its tab-separated output (no column names); throws on an error.</summary>
    public async Task<string> QueryAsync(string sql)
    {
        var result = await QueryOrErrorAsync(sql);
        return result.ExitCode == 0 ? result.Output.Trim() : throw new InvalidOperationException($"mariadb failed: {result.Error}");
    }

    public Task<(int ExitCode, string Output, string Error)> QueryOrErrorAsync(string sql) => RunClientAsync(sql, RootPassword);

    private async Task RunAsync(string sql, string password)
    {
        var result = await RunClientAsync(sql, password);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"mariadb failed: {result.Error}");
        }
    }

    private Task<(int ExitCode, string Output, string Error)> RunClientAsync(string sql, string password) =>
        ChildProcess.RunAsync(ClientPath, ["--no-defaults", "--protocol=SOCKET", "--socket=" + SocketPath, "-uroot", .. password.Length > 0 ? new[] { "-p" + password } : [], "-N", "-B", "-e", sql]);

    /// <summary>The general log so far: one line per connect, quit and statement.</summary>
    public async Task<string> ReadGeneralLogAsync()
    {
        try
        {
            await using var stream = new FileStream(GeneralLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 4096, useAsync: true);
            using var reader = new StreamReader(stream);
            return await reader.ReadToEndAsync();
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return "";
        }
    }

    private string ReadErrorLog()
    {
        try
        {
            return File.ReadAllText(Path.Combine(Directory, "error.log"));
        }
        catch (IOException)
        {
            return "";
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }

    private string Output()
    {
        lock (_gate)
        {
            return _output.ToString();
        }
    }

    private static string Tool(params string[] names)
    {
        foreach (var name in names)
        {
            foreach (var dir in new[] { "/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin" })
            {
                var path = Path.Combine(dir, name);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }
        throw new InvalidOperationException($"MariaDB is not installed (no {string.Join(" or ", names)}): run 'bash scripts/test.sh' (it installs Debian's mariadb-server)");
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        _process?.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open; the temp directory is cleaned later.
        }
    }
}
