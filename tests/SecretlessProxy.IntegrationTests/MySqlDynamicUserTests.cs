using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using MySqlConnector;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// mysql-dynamic against a real MariaDB through the real gateway: a caller logs in as a user made for it (the server
/// gets only the mysql_native_password hash), revocation kills its sessions and drops it, the start-up sweep drops
/// users of the template older than the ttl and nothing else, and a failing admin login names no password.
/// </summary>
public sealed class MySqlDynamicUserTests : IAsyncLifetime
{
    private const string Leftover = "sl_leftover_aaaaaaaa";
    private const string StillValid = "sl_current_bbbbbbbb";
    private const string NotOurs = "sl_notours";

    private readonly TestPki _pki = new();
    private readonly string _canary = "canary-admin-pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private MariaDbServer _db = null!;
    private ProxyUnderTest _proxy = null!;

    public async Task InitializeAsync()
    {
        _db = await MariaDbServer.StartAsync();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "admin.pw"), _db.Password(MariaDbServer.AdminUser) + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "wrong-admin.pw"), _canary + "\n");
        // What a crash would leave: a user of the template made two hours ago (its password as old), and users the
        // sweep must leave alone: one made now, one of the prefix the template does not make.
        await _db.QueryAsync($"""
            CREATE USER '{Leftover}'@'%' IDENTIFIED BY 'x';
            CREATE USER '{StillValid}'@'%' IDENTIFIED BY 'x';
            CREATE USER '{NotOurs}'@'%' IDENTIFIED BY 'x';
            UPDATE mysql.global_priv SET Priv = JSON_SET(Priv, '$.password_last_changed', UNIX_TIMESTAMP() - 7200) WHERE User IN ('{Leftover}', '{NotOurs}');
            FLUSH PRIVILEGES;
            """);
        _proxy = await ProxyUnderTest.StartAsync(_pki, Config, token: null);
    }

    private string Config(Uri upstream) => $$$"""
        listeners:
          - name: my-local
            protocol: mysql
            url: tcp://127.0.0.1:0
            identity: payments
          - name: admin
            role: admin
            url: http://127.0.0.1:0
          - name: admin-socket
            role: admin
            url: unix:admin-{{{upstream.Port}}}.sock
            allow: [{ uid: 0 }]
        identities:
          payments: { spiffeId: {{{TestPki.PaymentsId}}} }
        credentials:
          shop-dynamic:
            provider: mysql-dynamic
            database: shop
            adminUser: {{{MariaDbServer.AdminUser}}}
            adminPasswordFile: admin.pw
            usernameTemplate: "sl_{{caller}}_{{random}}"
            ttl: 1h
            creation: |
              CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}' PASSWORD EXPIRE INTERVAL 1 DAY;
              GRANT SELECT ON shop.* TO '{{name}}'@'%';
          broken-admin:
            provider: mysql-dynamic
            database: shop-broken
            adminUser: {{{MariaDbServer.AdminUser}}}
            adminPasswordFile: wrong-admin.pw
            usernameTemplate: "slb_{{caller}}_{{random}}"
            creation: CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}';
        databases:
          shop:
            engine: mysql
            host: 127.0.0.1
            port: {{{_db.Port}}}
            sslmode: verify-full
            caFile: {{{_db.CaCertificatePath}}}
            serverName: localhost
            roles: { app: shop-dynamic }
          shop-broken:
            engine: mysql
            host: 127.0.0.1
            port: {{{_db.Port}}}
            database: shop
            sslmode: require
            roles: { app: broken-admin }
        policies:
          - name: payments-uses-shop
            allow: [payments]
            databases: ["*"]
        """;

    private MySqlConnection Session(string database = "shop") => new(new MySqlConnectionStringBuilder
    {
        Server = "127.0.0.1", Port = (uint)_proxy.Host.GetListenerUri("my-local").Port, Database = database, UserID = "app", SslMode = MySqlSslMode.None, Pooling = false, ConnectionTimeout = 15,
    }.ConnectionString);

    private async Task<bool> UserExistsAsync(string user) =>
        (await _db.QueryAsync($"SELECT COUNT(*) FROM mysql.user WHERE User = '{user}'")).Trim() != "0";

    private string UserLog() => string.Join("\n", _proxy.Logs.Lines.Where(l => l.Contains("DynamicUserProvider", StringComparison.Ordinal) || l.Contains("CredentialBroker", StringComparison.Ordinal)));

    [Fact]
    public async Task A_caller_logs_in_as_a_user_made_for_it_which_revocation_drops_with_its_sessions_and_the_sweep_drops_what_a_crash_left()
    {
        // The start-up sweep: the two-hour-old user of the template is dropped, the others stay.
        await Eventually.Until(async () => !await UserExistsAsync(Leftover), "the leftover user is swept", lastSeen: UserLog);
        Assert.True(await UserExistsAsync(StillValid));
        Assert.True(await UserExistsAsync(NotOurs));
        Assert.Contains($"the start-up sweep dropped expired MySQL user {Leftover}", _proxy.Logs.Text, StringComparison.Ordinal);

        await using var session = Session();
        await session.OpenAsync();
        string user;
        await using (var who = new MySqlCommand("SELECT CURRENT_USER(), (SELECT COUNT(*) FROM items)", session))
        {
            await using var reader = await who.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            user = reader.GetString(0).Split('@')[0];
            Assert.Equal(MariaDbServer.Items.Count, Convert.ToInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Matches("^sl_api_[a-z2-7]{8}$", user);
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "my-local" && r.GetProperty("outcome").GetString() == "allow");
        Assert.Equal("shop-dynamic", record.GetProperty("credential").GetString());
        Assert.Equal("mysql-dynamic", record.GetProperty("credentialProvider").GetString());

        // Only the hash went to the server: the statement is in its general log, the plaintext is not.
        var binding = _proxy.Host.Config.Current.Credentials["shop-dynamic"];
        var broker = _proxy.Host.Services.GetRequiredService<CredentialBroker>();
        var password = (await broker.GetAsync(binding, new CredentialRequest("shop-dynamic", "postgres:shop", TestPki.PaymentsId), CancellationToken.None)).Secret.Reveal();
        Assert.Equal(32, password.Length);
        var log = await _db.ReadGeneralLogAsync();
        Assert.Contains($"CREATE USER '{user}'@'%' IDENTIFIED BY PASSWORD '*", log, StringComparison.Ordinal);
        foreach (var text in new[] { log, _proxy.Logs.Text, _proxy.Decisions.Text })
        {
            Assert.DoesNotContain(password, text, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(_db.Password(MariaDbServer.AdminUser), _proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(_db.Password(MariaDbServer.AdminUser), _proxy.Decisions.Text, StringComparison.Ordinal);

        // Revocation kills the user's session and drops it.
        using var admin = new AdminClient(_proxy);
        var (status, _) = await admin.PostAsync("/credentials/shop-dynamic/revoke", new { });
        Assert.Equal(200, status);
        await Eventually.Until(async () => !await UserExistsAsync(user), "the user is dropped", lastSeen: UserLog);
        Assert.Contains($"dropped MySQL user {user} (Revoked)", _proxy.Logs.Text, StringComparison.Ordinal);
        var dropped = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == SecretlessProxy.Audit.AuditEvents.CredentialRevokedAtIssuer
            && r.GetProperty("item").GetString() == "user " + user);
        Assert.StartsWith("mysql 127.0.0.1:", dropped.GetProperty("issuer").GetString(), StringComparison.Ordinal);
        await using (var after = new MySqlCommand("SELECT 1", session))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => after.ExecuteScalarAsync());
        }

        // The next login makes a new user.
        await using var again = Session();
        await again.OpenAsync();
        await using var who2 = new MySqlCommand("SELECT CURRENT_USER()", again);
        var user2 = ((string)(await who2.ExecuteScalarAsync())!).Split('@')[0];
        Assert.NotEqual(user, user2);
        Assert.True(await UserExistsAsync(user2));
    }

    [Fact]
    public async Task A_failing_admin_login_refuses_the_caller_and_names_no_password()
    {
        await using var session = Session("shop-broken");
        var error = await Assert.ThrowsAsync<MySqlException>(() => session.OpenAsync());
        Assert.Equal("08S01", error.SqlState);
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("database", out var d) && d.GetString() == "shop-broken");
        Assert.Equal("credential_unavailable", record.GetProperty("reason").GetString());
        Assert.Contains("the admin login as secretless_admin to database 'shop-broken' failed", _proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(_canary, _proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(_canary, _proxy.Decisions.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(_canary, error.Message, StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _db.DisposeAsync();
        _pki.Dispose();
    }
}
