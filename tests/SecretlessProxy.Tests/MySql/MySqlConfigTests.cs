using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Databases;
using SecretlessProxy.Listeners;
using SecretlessProxy.MySql;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Tests.MySql;

/// <summary><c>protocol: mysql</c>, <c>engine: mysql</c> and <c>mysql-dynamic</c> as the config compiler sees them.</summary>
public sealed class MySqlConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-mysql-config-").FullName;

    private static string Config(string database = "", string credential = "", string provider = "mysql-dynamic", string engine = "mysql") => $$$"""
        listeners:
          - name: my
            protocol: mysql
            url: tcp://127.0.0.1:0
            identity: app
        identities:
          app: { spiffeId: spiffe://example.org/ns/shop/sa/app }
        credentials:
          shop-dynamic:
            provider: {{{provider}}}
            database: shop
            adminUser: secretless_admin
            adminPasswordFile: admin.pw
            creation: CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}'{{{(provider == "postgres-dynamic" ? " VALID UNTIL '{{expiry}}'" : "")}}};
        {{{credential}}}
        databases:
          shop:
            engine: {{{engine}}}
            host: 127.0.0.1
            sslmode: disable
            roles: { app: shop-dynamic }
        {{{database}}}
        policies:
          - name: app-uses-shop
            allow: [app]
            databases: [shop]
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
    }

    private async Task<string> ErrorsAsync(string text)
    {
        var result = await CompileAsync(text);
        result.Config?.Dispose();
        Assert.Null(result.Config);
        return string.Join("\n", result.Errors);
    }

    [Fact]
    public async Task A_mysql_listener_and_database_compile_with_mysql_defaults_and_a_dynamic_provider()
    {
        var result = await CompileAsync(Config());
        Assert.True(result.Config is not null, string.Join("\n", result.Errors));
        using var config = result.Config;
        Assert.Equal(ListenerProtocol.MySql, Assert.Single(config.Listeners).Protocol);
        var db = config.Databases["shop"];
        Assert.Equal(DatabaseEngine.MySql, db.Engine);
        Assert.Equal(3306, db.Port);
        Assert.Equal(MySqlUpstreamAuth.NativePassword, db.MySqlMinimumAuth);
        var provider = Assert.IsType<DynamicUserProvider>(config.Credentials["shop-dynamic"].Provider);
        Assert.True(provider.IsWorkloadBound);
        Assert.Equal(DynamicUserProviderFactory.NameLimit, provider.Names.Limit);
        var missing = await Assert.ThrowsAsync<CredentialUnavailableException>(() => provider.GetCredentialAsync(new CredentialRequest("shop-dynamic", "postgres:shop", null), default).AsTask());
        Assert.Contains("verified caller", missing.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postgres_only_keys_an_unknown_engine_or_auth_and_a_provider_of_the_other_engine_are_refused()
    {
        var text = await ErrorsAsync(Config(database: """
              reports:
                engine: mysql
                host: 127.0.0.1
                auth: scram-sha-256
                parameters: [application_name]
                roles: { app: static-pw }
              other:
                engine: oracle
                host: 127.0.0.1
                roles: { app: static-pw }
            """, credential: "  static-pw: { provider: file, path: pw.txt }"));
        Assert.Contains("databases.reports.auth: 'scram-sha-256' is not a MySQL authentication method", text, StringComparison.Ordinal);
        Assert.Contains("databases.reports.parameters: applies to engine: postgres only", text, StringComparison.Ordinal);
        Assert.Contains("databases.other.engine: 'oracle' is not a database engine", text, StringComparison.Ordinal);

        Assert.Contains("credentials.shop-dynamic.database: names database 'shop', which is not a MySQL database",
            await ErrorsAsync(Config(engine: "postgres")), StringComparison.Ordinal);
        Assert.Contains("credentials.shop-dynamic.database: names database 'shop', which is not a PostgreSQL database",
            await ErrorsAsync(Config(provider: "postgres-dynamic")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_mysql_listener_must_identify_its_callers()
    {
        var text = await ErrorsAsync(Config().Replace("    identity: app\n", "", StringComparison.Ordinal));
        Assert.Contains("a mysql listener must identify its callers", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusals_map_to_mysql_error_numbers()
    {
        Assert.Equal((1045, "28000"), ((int)MySqlGateway.ErrorOf(RefusalCatalog.Get("no_rule_matched")).Code, MySqlGateway.ErrorOf(RefusalCatalog.Get("no_rule_matched")).SqlState));
        Assert.Equal((ushort)1049, MySqlGateway.ErrorOf(RefusalCatalog.DbUnknownDatabase).Code);
        Assert.Equal((ushort)1043, MySqlGateway.ErrorOf(RefusalCatalog.DbProtocolViolation).Code);
        Assert.Equal(((ushort)2003, "08S01"), MySqlGateway.ErrorOf(RefusalCatalog.UpstreamUnavailable));
        Assert.Equal(((ushort)2003, "08S01"), MySqlGateway.ErrorOf(RefusalCatalog.CredentialUnavailable));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
