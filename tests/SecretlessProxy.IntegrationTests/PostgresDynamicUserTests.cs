using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Databases;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// postgres-dynamic against a real PostgreSQL through the real gateway: every caller logs in as a role made for it
/// (VALID UNTIL in the future, the password sent only as its SCRAM verifier), revocation drops the role and ends its
/// sessions, renewal extends a role, the start-up sweep drops expired roles the template made and nothing else, and
/// failures answer 08004/08006 without the admin password anywhere.
/// </summary>
public sealed class PostgresDynamicUserTests : IAsyncLifetime
{
    private const string BatchId = "spiffe://example.org/ns/jobs/sa/batch";
    private const string Leftover = "sl_leftover_aaaaaaaa";
    private const string StillValid = "sl_current_bbbbbbbb";
    private const string NotOurs = "sl_notours";
    private const string OtherExpired = "other_expired";

    private readonly TestPki _pki = new();
    private readonly string _canary = "canary-admin-pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private PostgresServer _db = null!;
    private ProxyUnderTest? _proxy;
    private string _socketDir = "";
    private int _closedPort;

    private ProxyUnderTest Proxy => _proxy!;

    public async Task InitializeAsync()
    {
        // Every statement in the server's log: what the proxy sends is visible, so it can be shown to hold no plaintext password.
        _db = await PostgresServer.StartAsync(new PostgresServerOptions { Settings = new Dictionary<string, string> { ["log_statement"] = "all" } });
        _socketDir = Directory.CreateTempSubdirectory("secretless-pg-").FullName;
        _closedPort = LoopbackPorts.Next();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "admin.pw"), _db.AdminPassword + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "wrong-admin.pw"), _canary + "\n");
        // What a crash would leave: an expired role of the template (with a privilege, so DROP OWNED has work), and
        // roles the sweep must leave alone: one still valid, one of the prefix the template does not make, one of another prefix.
        await _db.QueryAsync($"""
            CREATE ROLE {Leftover} LOGIN VALID UNTIL '2001-01-01T00:00:00Z';
            GRANT SELECT ON items TO {Leftover};
            CREATE ROLE {StillValid} LOGIN VALID UNTIL '2999-01-01T00:00:00Z';
            CREATE ROLE {NotOurs} LOGIN VALID UNTIL '2001-01-01T00:00:00Z';
            CREATE ROLE {OtherExpired} LOGIN VALID UNTIL '2001-01-01T00:00:00Z';
            """);
        _proxy = await ProxyUnderTest.StartAsync(_pki, Config, token: null);
    }

    private const string Creation = """
              CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}';
              GRANT SELECT ON items TO "{{name}}";
        """;

    private static string Dynamic(string name, string database, string template, string extra = "", string passwordFile = "admin.pw", string creation = Creation) => $$"""
          {{name}}:
            provider: postgres-dynamic
            database: {{database}}
            adminUser: {{PostgresServer.AdminRole}}
            adminPasswordFile: {{passwordFile}}
            usernameTemplate: "{{template}}"
        {{extra}}
            creation: |
        {{creation}}
        """;

    private string Database(string name, string roles, string ssl = "verify-full", int? port = null) => $$"""
          {{name}}:
            host: 127.0.0.1
            port: {{port ?? _db.Port}}
            database: {{PostgresServer.DatabaseName}}
            sslmode: {{ssl}}
        {{(ssl == "verify-full" ? $"    caFile: {_db.CaCertificatePath}\n    serverName: localhost" : "")}}
            connectTimeout: 3s
            roles: {{roles}}
        """;

    private string Config(Uri upstream) => $$"""
        listeners:
          - name: pg-tls
            protocol: postgres
            url: tcp://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
          - name: pg-socket
            protocol: postgres
            url: unix:{{_socketDir}}/.s.PGSQL.5432
          - name: admin
            role: admin
            url: http://127.0.0.1:0
          - name: admin-socket
            role: admin
            url: unix:admin-{{upstream.Port}}.sock
            allow: [{ uid: 0 }]
        identities:
          payments: { spiffeId: {{TestPki.PaymentsId}} }
          batch:
            spiffeId: {{BatchId}}
            unix: { uid: 0 }
        credentials:
        {{Dynamic("orders-dynamic", "orders", "sl_{{caller}}_{{random}}", "    ttl: 1h")}}
        {{Dynamic("orders-renewing", "orders", "slr_{{caller}}_{{random}}", "    ttl: 20s\n    refreshFraction: 0.1\n    renewal: ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiry}}';")}}
        {{Dynamic("orders-short", "orders", "slt_{{caller}}_{{random}}", "    ttl: 12s\n    refreshFraction: 0.25")}}
        {{Dynamic("broken-admin", "orders-broken", "slb_{{caller}}_{{random}}", passwordFile: "wrong-admin.pw")}}
        {{Dynamic("bad-creation", "orders-badsql", "slx_{{caller}}_{{random}}", creation: Creation.Replace("ON items", "ON no_such_table", StringComparison.Ordinal))}}
        {{Dynamic("down-dynamic", "orders-down", "sld_{{caller}}_{{random}}")}}
        databases:
        {{Database("orders", "{ app: orders-dynamic, renewing: orders-renewing, short: orders-short }")}}
        {{Database("orders-broken", "{ app: broken-admin }", ssl: "require")}}
        {{Database("orders-badsql", "{ app: bad-creation }", ssl: "require")}}
        {{Database("orders-down", "{ app: down-dynamic }", ssl: "disable", port: _closedPort)}}
        policies:
          - name: callers-use-orders
            allow: [payments, batch]
            databases: ["*"]
        grants: { maxDuration: "02:00:00" }
        """;

    private int TlsPort => Proxy.Host.GetListenerUri("pg-tls").Port;

    private (string Cert, string Key)? _svid;

    private string TlsConnection(string database = "orders", string user = "app")
    {
        var svid = _svid ??= _pki.WritePem(_pki.Svid(TestPki.PaymentsId), "payments");
        return $"host=localhost port={TlsPort} dbname={database} user={user} sslmode=verify-full sslrootcert={_pki.ServerCaPath} sslcert={svid.Cert} sslkey={svid.Key}";
    }

    private string SocketConnection(string database = "orders", string user = "app") => $"host={_socketDir} port=5432 dbname={database} user={user}";

    private NpgsqlConnection SocketSession(string database = "orders", string user = "app") => new(new NpgsqlConnectionStringBuilder
    {
        Host = _socketDir, Port = 5432, Database = database, Username = user, Pooling = false, Timeout = 15,
    }.ConnectionString);

    private static Task<(int Exit, string Output, string Error)> PsqlAsync(string connection, string sql) => PostgresServer.PsqlWithoutPasswordAsync(connection, sql);

    private static async Task<string> CurrentUserAsync(string connection)
    {
        var result = await PsqlAsync(connection, "select current_user || ' ' || (select count(*) from items)");
        Assert.True(result.Exit == 0, result.Error);
        var parts = result.Output.Split(' ');
        Assert.Equal(PostgresServer.Items.Count.ToString(CultureInfo.InvariantCulture), parts[1]);
        return parts[0];
    }

    private async Task<bool> RoleExistsAsync(string role) =>
        (await _db.QueryAsync($"select count(*) from pg_roles where rolname = '{role}'")).Trim() == "1";

    private async Task<DateTimeOffset> ValidUntilAsync(string role) => DateTimeOffset.Parse(
        (await _db.QueryAsync($"select to_char(rolvaliduntil at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') from pg_roles where rolname = '{role}'")).Trim(),
        CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    /// <summary>The password the broker holds for a caller (the plaintext the gateway logs in with).</summary>
    private async Task<string> PasswordOfAsync(string credential, string workload)
    {
        var binding = Proxy.Host.Config.Current.Credentials[credential];
        var broker = Proxy.Host.Services.GetRequiredService<CredentialBroker>();
        return (await broker.GetAsync(binding, new CredentialRequest(credential, "postgres:orders", workload), CancellationToken.None)).Secret.Reveal();
    }

    /// <summary>What the proxy logged about roles and releases (for a failure message).</summary>
    private string RoleLog() => string.Join("\n", Proxy.Logs.Lines.Where(l => l.Contains("DynamicRoleProvider", StringComparison.Ordinal) || l.Contains("CredentialBroker", StringComparison.Ordinal)));

    private void AssertNoAdminPassword()
    {
        foreach (var secret in new[] { _db.AdminPassword, _canary })
        {
            Assert.DoesNotContain(secret, Proxy.Logs.Text, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, Proxy.Decisions.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Each_caller_logs_in_as_a_role_made_for_it_whose_password_the_server_never_sees_and_which_outlives_a_shutdown()
    {
        var payments = await CurrentUserAsync(TlsConnection());
        Assert.Matches("^sl_api_[a-z2-7]{8}$", payments);
        var validUntil = await ValidUntilAsync(payments);
        Assert.InRange(validUntil, DateTimeOffset.UtcNow + TimeSpan.FromMinutes(55), DateTimeOffset.UtcNow + TimeSpan.FromMinutes(61));
        var record = await Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "pg-tls");
        Assert.Equal("allow", record.GetProperty("outcome").GetString());
        Assert.Equal("orders-dynamic", record.GetProperty("credential").GetString());
        Assert.Equal("postgres-dynamic", record.GetProperty("credentialProvider").GetString());
        Assert.False(record.GetProperty("credentialStatic").GetBoolean());

        // Another caller (a Unix socket peer) gets another role; the first keeps its own (cached, not made again).
        var batch = await CurrentUserAsync(SocketConnection());
        Assert.Matches("^sl_batch_[a-z2-7]{8}$", batch);
        Assert.Equal(payments, await CurrentUserAsync(TlsConnection()));
        Assert.Equal(batch, await CurrentUserAsync(SocketConnection()));

        // Only the verifier went to the server: the statement is in its log, the plaintext is not.
        var log = await _db.ReadLogAsync();
        Assert.Contains($"CREATE ROLE \"{payments}\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:", log, StringComparison.Ordinal);
        foreach (var (role, workload) in new[] { (payments, TestPki.PaymentsId), (batch, BatchId) })
        {
            var password = await PasswordOfAsync("orders-dynamic", workload);
            Assert.Equal(32, password.Length);
            Assert.DoesNotContain(password, log, StringComparison.Ordinal);
            Assert.DoesNotContain(password, Proxy.Logs.Text, StringComparison.Ordinal);
            Assert.DoesNotContain(password, Proxy.Decisions.Text, StringComparison.Ordinal);
            Assert.True(await RoleExistsAsync(role));
        }
        Assert.Contains($"created role {payments} for {TestPki.PaymentsId}", Proxy.Logs.Text, StringComparison.Ordinal);
        AssertNoAdminPassword();

        // A stopping proxy drops nothing: what it made expires by itself (VALID UNTIL), as after a crash.
        await Proxy.DisposeAsync();
        _proxy = null;
        Assert.True(await RoleExistsAsync(payments));
        Assert.True(await RoleExistsAsync(batch));
    }

    [Fact]
    public async Task Revoking_the_credential_drops_its_roles_and_ends_their_sessions_and_a_workload_revocation_or_a_grants_end_only_that_workloads()
    {
        await using var session = SocketSession();
        await session.OpenAsync();
        string batch;
        await using (var who = new NpgsqlCommand("select current_user", session))
        {
            batch = (string)(await who.ExecuteScalarAsync())!;
        }
        Assert.Matches("^sl_batch_[a-z2-7]{8}$", batch);
        var payments = await CurrentUserAsync(TlsConnection());
        Assert.True(await RoleExistsAsync(batch));

        using var admin = new AdminClient(Proxy);
        var (status, body) = await admin.PostAsync("/credentials/orders-dynamic/revoke", new { });
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("wasCached").GetBoolean());
        await Eventually.Until(async () => !await RoleExistsAsync(batch) && !await RoleExistsAsync(payments), "both roles are dropped", lastSeen: RoleLog);
        Assert.Contains($"dropped role {batch} (Revoked)", Proxy.Logs.Text, StringComparison.Ordinal);
        // The drop is a revocation at the issuer, in the audit trail with the role's name (never its password).
        var dropped = await Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == SecretlessProxy.Audit.AuditEvents.CredentialRevokedAtIssuer
            && r.GetProperty("item").GetString() == "role " + batch);
        Assert.Equal("orders-dynamic", dropped.GetProperty("credential").GetString());
        Assert.StartsWith("postgres 127.0.0.1:", dropped.GetProperty("issuer").GetString(), StringComparison.Ordinal);
        Assert.Equal("revoked", dropped.GetProperty("release").GetString());
        // The open session was terminated with its role.
        await using (var after = new NpgsqlCommand("select 1", session))
        {
            var ended = await Assert.ThrowsAnyAsync<Exception>(() => after.ExecuteScalarAsync());
            Assert.True(ended is NpgsqlException or InvalidOperationException, ended.ToString());
        }
        Assert.Equal(0, await _db.CountConnectionsAsync(batch));

        // The next login makes new roles.
        var payments2 = await CurrentUserAsync(TlsConnection());
        var batch2 = await CurrentUserAsync(SocketConnection());
        Assert.NotEqual(payments, payments2);
        Assert.NotEqual(batch, batch2);

        // A workload revocation drops that workload's role only.
        (status, _) = await admin.PostAsync("/workloads/revoke", new { identity = TestPki.PaymentsId });
        Assert.Equal(200, status);
        await Eventually.Until(async () => !await RoleExistsAsync(payments2), "the payments role is dropped");
        Assert.True(await RoleExistsAsync(batch2));
        Assert.Equal(batch2, await CurrentUserAsync(SocketConnection()));

        // A grant on the credential that ends revokes what was issued under it: batch's role.
        var (granted, grant) = await admin.PostAsync("/grants", new { identity = BatchId, credential = "orders-dynamic", duration = "1h", approver = "alice", reason = "CHG-42" });
        Assert.Equal(201, granted);
        (status, _) = await admin.SendAsync(HttpMethod.Delete, "/grants/" + grant.GetProperty("id").GetString());
        Assert.Equal(200, status);
        await Eventually.Until(async () => !await RoleExistsAsync(batch2), "the role issued under the grant is dropped", lastSeen: RoleLog);
        AssertNoAdminPassword();
    }

    [Fact]
    public async Task The_start_up_sweep_drops_the_expired_roles_of_the_template_and_nothing_else()
    {
        await Eventually.Until(async () => !await RoleExistsAsync(Leftover), "the leftover role is swept");
        Assert.Contains($"Credential orders-dynamic: the start-up sweep dropped expired role {Leftover}", Proxy.Logs.Text, StringComparison.Ordinal);
        await Eventually.Until(() => Proxy.Logs.Text.Contains("start-up sweep of database orders for expired roles named sl_…: 1 dropped", StringComparison.Ordinal), "the sweep is logged");
        foreach (var kept in new[] { StillValid, NotOurs, OtherExpired })
        {
            Assert.True(await RoleExistsAsync(kept), kept);
        }
        // The sweeps of credentials whose admin login fails are logged, and do not stop the others.
        await Eventually.Until(() => Proxy.Logs.Text.Contains("Credential broken-admin: the start-up sweep of database orders-broken failed", StringComparison.Ordinal), "the failed sweep is logged");
        AssertNoAdminPassword();
    }

    [Fact]
    public async Task A_renewal_extends_the_callers_role_instead_of_making_another()
    {
        var role = await CurrentUserAsync(SocketConnection(user: "renewing"));
        Assert.Matches("^slr_batch_[a-z2-7]{8}$", role);
        var first = await ValidUntilAsync(role);
        // Past the refresh point (10% of 20 s): the next login starts a background refresh, which renews the role.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(role, await CurrentUserAsync(SocketConnection(user: "renewing")));
        await Eventually.Until(async () => await ValidUntilAsync(role) > first, "the role's VALID UNTIL moves on");
        Assert.Equal(role, await CurrentUserAsync(SocketConnection(user: "renewing")));
        Assert.Contains($"renewed role {role} until", Proxy.Logs.Text, StringComparison.Ordinal);
        Assert.Contains($"ALTER ROLE \"{role}\" VALID UNTIL", await _db.ReadLogAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replaced_role_keeps_its_sessions_until_it_expires_and_is_dropped_then()
    {
        var first = await CurrentUserAsync(SocketConnection(user: "short"));
        Assert.Matches("^slt_batch_[a-z2-7]{8}$", first);
        await using var session = SocketSession(user: "short");
        await session.OpenAsync();
        // Past the refresh point (25% of 12 s) the next login starts a refresh, which makes another role (no renewal).
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        await CurrentUserAsync(SocketConnection(user: "short"));
        var second = first;
        await Eventually.Until(async () => (second = await CurrentUserAsync(SocketConnection(user: "short"))) != first, "a refresh made another role");
        Assert.Matches("^slt_batch_[a-z2-7]{8}$", second);

        // The replaced role is not dropped when replaced: its session goes on.
        var binding = Proxy.Host.Config.Current.Credentials["orders-short"];
        var broker = Proxy.Host.Services.GetRequiredService<CredentialBroker>();
        Assert.Equal(0, broker.ReleaseExpired(binding, DateTimeOffset.UtcNow));
        Assert.True(await RoleExistsAsync(first));
        await using (var still = new NpgsqlCommand("select current_user", session))
        {
            Assert.Equal(first, await still.ExecuteScalarAsync());
        }

        // Once it has expired, the cache sweep (here called at once instead of within a minute) releases it.
        await Eventually.Until(() => broker.ReleaseExpired(binding, DateTimeOffset.UtcNow) > 0, "the replaced role expires");
        await Eventually.Until(async () => !await RoleExistsAsync(first), "the replaced role is dropped", lastSeen: RoleLog);
        Assert.Contains($"dropped role {first} (Expired)", Proxy.Logs.Text, StringComparison.Ordinal);
        Assert.True(await RoleExistsAsync(second));
        await using var ended = new NpgsqlCommand("select 1", session);
        Assert.True(await Record.ExceptionAsync(() => ended.ExecuteScalarAsync()) is NpgsqlException or InvalidOperationException);
    }

    [Fact]
    public async Task Failures_answer_08004_or_08006_leave_no_role_behind_and_never_show_the_admin_password()
    {
        async Task<PostgresException> RefusedAsync(string database)
        {
            await using var connection = SocketSession(database);
            return await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
        }

        var wrongPassword = await RefusedAsync("orders-broken");
        Assert.Equal("08004", wrongPassword.SqlState);
        Assert.Contains("could not obtain the credential for role \"app\"", wrongPassword.MessageText, StringComparison.Ordinal);
        Assert.Contains("password authentication failed for user \"secretless_admin\"", Proxy.Logs.Text, StringComparison.Ordinal);

        var badCreation = await RefusedAsync("orders-badsql");
        Assert.Equal("08004", badCreation.SqlState);
        await Eventually.Until(() => Proxy.Logs.Text.Contains("42P01", StringComparison.Ordinal), "the server's refusal is logged");
        // The statements ran in one transaction: the CREATE ROLE before the failing GRANT was rolled back.
        Assert.Contains("CREATE ROLE \"slx_batch_", await _db.ReadLogAsync(), StringComparison.Ordinal);
        Assert.Equal("0", (await _db.QueryAsync("select count(*) from pg_roles where rolname like 'slx%'")).Trim());

        var down = await RefusedAsync("orders-down");
        Assert.Equal("08006", down.SqlState);

        await Proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("database", out var d) && d.GetString() == "orders-down");
        var reasons = Proxy.Decisions.DecisionRecords().Where(r => r.TryGetProperty("database", out var d) && d.GetString() is "orders-broken" or "orders-badsql" or "orders-down")
            .GroupBy(r => r.GetProperty("database").GetString()!).ToDictionary(g => g.Key, g => g.Select(r => r.GetProperty("reason").GetString()).Distinct().ToList());
        Assert.Equal(["credential_unavailable"], reasons["orders-broken"]);
        Assert.Equal(["credential_unavailable"], reasons["orders-badsql"]);
        Assert.Equal(["credential_issuer_unavailable"], reasons["orders-down"]);
        foreach (var error in new[] { wrongPassword, badCreation, down })
        {
            Assert.DoesNotContain(_canary, error.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain(_db.AdminPassword, error.ToString(), StringComparison.Ordinal);
        }
        Assert.DoesNotContain(_canary, await _db.ReadLogAsync(), StringComparison.Ordinal);
        AssertNoAdminPassword();
    }

    public async Task DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }
        await _db.DisposeAsync();
        _pki.Dispose();
        Directory.Delete(_socketDir, recursive: true);
    }
}
