using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Databases;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The real-PostgreSQL fixture the gateway tests stand on: each role logs in over TLS with its own password and its
/// own method (SCRAM, md5, cleartext password: seen in pg_hba, in the stored hashes, in the server's first
/// authentication request on the wire and in the log), a wrong password is refused, the Unix socket works, the log
/// records connections, a certificate from TestPki verifies, and a stopped server refuses connections until started again.
/// </summary>
public sealed class PostgresFixtureTests(PostgresFixtureTests.SharedServer shared) : IClassFixture<PostgresFixtureTests.SharedServer>
{
    /// <summary>One server for the tests that do not stop it.</summary>
    public sealed class SharedServer : IAsyncLifetime
    {
        public PostgresServer Pg { get; private set; } = null!;

        public async Task InitializeAsync() => Pg = await PostgresServer.StartAsync();

        public async Task DisposeAsync() => await Pg.DisposeAsync();
    }

    private static readonly string[] AppRoles = [PostgresServer.ScramRole, PostgresServer.Md5Role, PostgresServer.PasswordRole];

    private PostgresServer Pg => shared.Pg;

    [Fact]
    public async Task Every_role_logs_in_over_tls_with_its_password_and_reads_the_items()
    {
        foreach (var role in AppRoles.Append(PostgresServer.AdminRole))
        {
            var output = await Pg.QueryAsync("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();\nSELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items;", role);
            Assert.Equal($"{role}|t\n1:widget,2:gadget,3:gizmo\n", output);
        }
        Assert.Equal(PostgresServer.AdminRole, Pg.AdminUser);
        Assert.Equal(4, new[] { Pg.AdminPassword, Pg.Password(PostgresServer.ScramRole), Pg.Password(PostgresServer.Md5Role), Pg.Password(PostgresServer.PasswordRole) }.Distinct().Count());
    }

    [Fact]
    public async Task A_wrong_password_or_an_unknown_role_is_refused()
    {
        foreach (var role in AppRoles.Append(PostgresServer.AdminRole))
        {
            var result = await Pg.TryQueryAsync("SELECT 1", role, password: Pg.Password(role) + "-wrong");
            Assert.False(result.Succeeded, $"{role} with a wrong password got in: {result.Output}");
            Assert.Contains($"password authentication failed for user \"{role}\"", result.Error, StringComparison.Ordinal);
        }
        var empty = await Pg.TryQueryAsync("SELECT 1", PostgresServer.ScramRole, password: "");
        Assert.False(empty.Succeeded);
        var stranger = await Pg.TryQueryAsync("SELECT 1", "nobody_here", password: "whatever");
        Assert.False(stranger.Succeeded);
        Assert.Contains("password authentication failed for user \"nobody_here\"", stranger.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Md5_and_password_roles_really_use_md5_and_cleartext_and_everyone_else_scram()
    {
        // pg_hba as the server parsed it: no trust, no peer anywhere.
        var rules = (await Pg.QueryAsync("SELECT type, array_to_string(user_name, ','), auth_method FROM pg_hba_file_rules ORDER BY line_number;"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "local|app_md5|md5", "local|app_password|password", "local|all|scram-sha-256",
            "host|app_md5|md5", "host|app_password|password", "host|all|scram-sha-256",
        ], rules);

        // The stored secrets: md5 for app_md5 (so the md5 method is not upgraded to SCRAM), SCRAM for the rest.
        var stored = (await Pg.QueryAsync("SELECT rolname || '|' || split_part(rolpassword, '$', 1) FROM pg_authid WHERE rolpassword IS NOT NULL AND rolname NOT LIKE 'app_rotating%' ORDER BY rolname;"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, stored.Length);
        Assert.StartsWith("app_md5|md5", stored[0], StringComparison.Ordinal);
        Assert.Equal(["app_password|SCRAM-SHA-256", "app_scram|SCRAM-SHA-256", "secretless_admin|SCRAM-SHA-256"], stored[1..]);

        // On the wire: the server's first authentication request (3 cleartext, 5 MD5, 10 SASL).
        Assert.Equal(5, await FirstAuthenticationRequestAsync(Pg, PostgresServer.Md5Role));
        Assert.Equal(3, await FirstAuthenticationRequestAsync(Pg, PostgresServer.PasswordRole));
        Assert.Equal(10, await FirstAuthenticationRequestAsync(Pg, PostgresServer.ScramRole));
        Assert.Equal(10, await FirstAuthenticationRequestAsync(Pg, PostgresServer.AdminRole));

        // And the server's own word for real logins.
        foreach (var (role, method) in new[] { (PostgresServer.Md5Role, "md5"), (PostgresServer.PasswordRole, "password"), (PostgresServer.ScramRole, "scram-sha-256") })
        {
            await Pg.QueryAsync("SELECT 1", role);
            await Eventually.Until(() => Pg.LogText.Contains($"connection authenticated: identity=\"{role}\" method={method} ", StringComparison.Ordinal),
                $"the log says {role} authenticated with {method}", lastSeen: () => Pg.LogText);
        }
    }

    [Fact]
    public async Task The_log_records_connections_and_disconnections_with_user_and_database()
    {
        await Pg.QueryAsync("SELECT 1", PostgresServer.ScramRole);
        // Each line's prefix names user and database (application_name is known only after authentication).
        await Eventually.Until(() =>
        {
            var lines = Pg.LogText.Split('\n');
            return lines.Any(l => l.Contains(" user=app_scram db=orders ", StringComparison.Ordinal) && l.Contains(" client=127.0.0.1 ", StringComparison.Ordinal)
                    && l.Contains("LOG:  connection authorized: user=app_scram database=orders application_name=secretless-fixture SSL enabled (protocol=TLSv1.", StringComparison.Ordinal))
                && lines.Any(l => l.Contains(" user=app_scram db=orders app=secretless-fixture ", StringComparison.Ordinal)
                    && l.Contains("LOG:  disconnection: session time:", StringComparison.Ordinal));
        }, "the log has app_scram's connection and disconnection", lastSeen: () => Pg.LogText);
        Assert.Contains("connection authorized: user=app_scram database=orders", await Pg.ReadLogAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(Pg.Password(PostgresServer.ScramRole), Pg.LogText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_unix_socket_takes_the_same_roles_and_methods()
    {
        Assert.True(File.Exists(Pg.SocketPath), Pg.SocketPath);
        foreach (var role in AppRoles)
        {
            Assert.Equal($"{role}|f\n", await Query(role, Pg.Password(role)));
            var wrong = await Pg.TryQueryAsync("SELECT 1", role, password: "wrong", host: Pg.SocketDirectory);
            Assert.False(wrong.Succeeded, $"{role} with a wrong password got in over the socket");
        }

        async Task<string> Query(string role, string password)
        {
            var result = await Pg.TryQueryAsync("SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();", role, password: password, host: Pg.SocketDirectory);
            Assert.True(result.Succeeded, result.Error);
            return result.Output;
        }
    }

    [Fact]
    public async Task Clients_that_verify_the_minted_certificate_get_in_and_a_rotated_password_replaces_the_old()
    {
        Assert.NotNull(Pg.CaCertificatePath);
        var verified = await Pg.TryQueryAsync("SELECT current_user;", PostgresServer.ScramRole, sslMode: "verify-full");
        Assert.True(verified.Succeeded, verified.Error);
        using var presented = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Pg.ServerCertificatePath));
        Assert.Contains("CN=localhost", presented.Subject, StringComparison.Ordinal);

        var password = await Pg.CreateRoleAsync("app_rotating");
        Assert.Equal("app_rotating\n", await Pg.QueryAsync("SELECT current_user;", "app_rotating"));
        await Pg.SetPasswordAsync("app_rotating", "rotated-" + password);
        Assert.False((await Pg.TryQueryAsync("SELECT 1", "app_rotating", password: password)).Succeeded);
        Assert.Equal("app_rotating\n", await Pg.QueryAsync("SELECT current_user;", "app_rotating"));
    }

    [Fact]
    public async Task Backends_are_counted_and_terminated()
    {
        var sleeper = Pg.TryQueryAsync("SELECT pg_sleep(60);", PostgresServer.Md5Role);
        await Eventually.Until(async () => await Pg.CountConnectionsAsync(PostgresServer.Md5Role) == 1, "app_md5's sleeping session shows in pg_stat_activity");
        Assert.Equal(1, await Pg.TerminateConnectionsAsync(PostgresServer.Md5Role));
        var ended = await sleeper;
        Assert.False(ended.Succeeded);
        Assert.Contains("terminating connection due to administrator command", ended.Error, StringComparison.Ordinal);
        Assert.Equal(0, await Pg.CountConnectionsAsync(PostgresServer.Md5Role));
    }

    [Fact]
    public async Task Psql_and_pgbench_are_found()
    {
        Assert.StartsWith("/usr/lib/postgresql/", PostgresServer.BinDirectory, StringComparison.Ordinal);
        foreach (var tool in new[] { PostgresServer.PsqlPath, PostgresServer.PgbenchPath })
        {
            var (exit, output, _) = await ChildProcess.RunAsync(tool, ["--version"]);
            Assert.Equal(0, exit);
            Assert.Contains("(PostgreSQL)", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_TestPki_certificate_verifies_and_a_stopped_server_refuses_connections_until_started_again()
    {
        using var pki = new TestPki();
        await using var pg = await PostgresServer.StartAsync(new PostgresServerOptions
        {
            ServerCertificatePath = Path.Combine(pki.Directory, "server.pem"),
            ServerKeyPath = Path.Combine(pki.Directory, "server.key"),
            CaCertificatePath = pki.ServerCaPath,
            RequireTls = true,
        });
        var verified = await pg.TryQueryAsync("SELECT current_user;", PostgresServer.ScramRole, sslMode: "verify-full");
        Assert.True(verified.Succeeded, verified.Error);
        var plain = await pg.TryQueryAsync("SELECT 1;", PostgresServer.ScramRole, sslMode: "disable");
        Assert.False(plain.Succeeded);
        Assert.Contains("no encryption", plain.Error, StringComparison.Ordinal);

        await pg.StopAsync();
        Assert.False(pg.IsRunning);
        var refused = await pg.TryQueryAsync("SELECT 1;", PostgresServer.ScramRole);
        Assert.False(refused.Succeeded);
        Assert.Contains("Connection refused", refused.Error, StringComparison.Ordinal);
        Assert.Contains("database system is shut down", pg.LogText, StringComparison.Ordinal);

        await pg.StartAgainAsync();
        Assert.Equal("app_scram\n", await pg.QueryAsync("SELECT current_user;", PostgresServer.ScramRole));

        await pg.KillAsync();
        Assert.False((await pg.TryQueryAsync("SELECT 1;", PostgresServer.ScramRole)).Succeeded);
        await pg.StartAgainAsync();
        Assert.Equal("3\n", await pg.QueryAsync("SELECT count(*) FROM items;", PostgresServer.PasswordRole));
    }

    [Fact]
    public async Task A_server_that_cannot_start_fails_at_once_with_its_log_and_leaves_no_directory()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => PostgresServer.StartAsync(new PostgresServerOptions
        {
            Settings = new Dictionary<string, string> { ["shared_buffers"] = "a-lot" },
        }));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(20), $"the failed start took {watch.Elapsed}");
        Assert.Contains("exited", failure.Message, StringComparison.Ordinal);
        Assert.Contains("invalid value for parameter \"shared_buffers\": \"a-lot\"", failure.Message, StringComparison.Ordinal);
        var log = System.Text.RegularExpressions.Regex.Match(failure.Message, @"server log \((?<path>[^)]+)\)").Groups["path"].Value;
        Assert.Contains("/secretless-pg-", log, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.GetDirectoryName(log)), "the failed server's directory is left behind");
    }

    /// <summary>Opens a TLS session (verifying the fixture's CA), sends a startup message for <paramref name="user"/> and returns the code of the server's first Authentication message.</summary>
    private static async Task<int> FirstAuthenticationRequestAsync(PostgresServer pg, string user)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, pg.Port);
        var stream = tcp.GetStream();
        var sslRequest = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(sslRequest, 8);
        BinaryPrimitives.WriteInt32BigEndian(sslRequest.AsSpan(4), 80877103);
        await stream.WriteAsync(sslRequest);
        var answer = new byte[1];
        await stream.ReadExactlyAsync(answer);
        Assert.Equal((byte)'S', answer[0]);

        using var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(pg.CaCertificatePath!));
        var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        trust.CustomTrustStore.Add(ca);
        await using var tls = new SslStream(stream);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost", CertificateChainPolicy = trust });

        var body = Encoding.UTF8.GetBytes($"user\0{user}\0database\0{PostgresServer.DatabaseName}\0\0");
        var startup = new byte[8 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(startup, startup.Length);
        BinaryPrimitives.WriteInt32BigEndian(startup.AsSpan(4), 3 << 16);
        body.CopyTo(startup, 8);
        await tls.WriteAsync(startup);
        var header = new byte[9];
        await tls.ReadExactlyAsync(header);
        Assert.Equal((byte)'R', header[0]);
        return BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(5));
    }
}
