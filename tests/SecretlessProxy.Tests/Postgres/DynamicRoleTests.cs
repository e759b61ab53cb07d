using System.Text.RegularExpressions;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Databases;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Postgres;

namespace SecretlessProxy.Tests.Postgres;

/// <summary>postgres-dynamic without a server: role names from the template, SQL templates, and the config's validation.</summary>
public sealed partial class DynamicRoleTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-dynamic-").FullName;

    private static RoleNameTemplate Template(string text) =>
        RoleNameTemplate.Parse(text, out var problems) ?? throw new InvalidOperationException(string.Join("; ", problems));

    [GeneratedRegex("^[a-z0-9_]{1,63}$")]
    private static partial Regex PlainName();

    [Theory]
    [InlineData("spiffe://example.org/ns/payments/sa/api", "api")]
    [InlineData("spiffe://example.org/ns/payments/sa/API-v2.x", "API-v2.x")]
    [InlineData("spiffe://example.org/ns/payments/sa/api/", "api")]
    [InlineData("spiffe://example.org", "example.org")]
    public void The_caller_is_the_last_path_segment_of_the_spiffe_id(string id, string caller) =>
        Assert.Equal(caller, RoleNameTemplate.CallerOf(id));

    [Theory]
    [InlineData("api", "api")]
    [InlineData("API-v2.x", "api_v2_x")]
    [InlineData("ünïcode spaces\"and'quotes;--", "_n_code_spaces_and_quotes___")]
    [InlineData("", "_")]
    public void Values_are_lowercased_and_everything_but_a_z_0_9_and_underscore_becomes_underscore(string value, string sanitized) =>
        Assert.Equal(sanitized, RoleNameTemplate.Sanitize(value));

    [Fact]
    public void The_default_template_names_a_role_after_the_caller_with_8_base32_characters()
    {
        var template = Template(RoleNameTemplate.DefaultText);
        var random = RoleNameTemplate.NewRandom();
        Assert.Matches("^[a-z2-7]{8}$", random);
        Assert.NotEqual(random, RoleNameTemplate.NewRandom());
        var name = template.Render(RoleNameTemplate.CallerOf("spiffe://example.org/ns/shop/sa/Orders-API"), "orders-dynamic", Now, random);
        Assert.Equal("sl_orders_api_" + random, name);
        Assert.Equal("sl_", template.Prefix);
        Assert.True(template.Matches(name));
        Assert.False(template.Matches("sl_orders_api_ABCDEFGH"));
        Assert.False(template.Matches("app_scram"));
        Assert.False(template.Matches("sl_x_abcdefgh\"; DROP ROLE x; --"));
    }

    [Fact]
    public void Role_and_time_placeholders_and_every_value_are_rendered_in_the_allowed_characters()
    {
        var template = Template("svc_{{role}}_{{caller}}_{{time}}_{{random}}");
        var name = template.Render("Batch Job", "Orders-Dynamic", Now, "abcdefgh");
        Assert.Equal($"svc_orders_dynamic_batch_job_{Now.ToUnixTimeSeconds()}_abcdefgh", name);
        Assert.Matches(PlainName(), name);
        Assert.True(template.Matches(name));
    }

    [Fact]
    public void A_long_caller_is_shortened_so_the_name_fits_63_bytes_with_its_random_part_whole()
    {
        var template = Template("sl_{{role}}_{{caller}}_{{random}}");
        var name = template.Render(new string('c', 200), new string('r', 40), Now, "abcdefgh");
        Assert.Equal(RoleNameTemplate.MaxLength, System.Text.Encoding.UTF8.GetByteCount(name));
        Assert.EndsWith("_abcdefgh", name, StringComparison.Ordinal);
        Assert.StartsWith("sl_rrrr", name, StringComparison.Ordinal);
        Assert.Contains("_cccc", name, StringComparison.Ordinal);
        Assert.Matches(PlainName(), name);
        Assert.True(template.Matches(name));
        // Both values give way, the longest first: neither is cut to nothing.
        var parts = name.Split('_');
        Assert.InRange(parts[1].Length, 20, 40);
        Assert.InRange(parts[2].Length, 20, 40);
    }

    [Theory]
    [InlineData("SL_{{caller}}_{{random}}", "characters other than a-z, 0-9 and _")]
    [InlineData("sl-{{caller}}-{{random}}", "characters other than a-z, 0-9 and _")]
    [InlineData("sl_\"{{caller}}_{{random}}", "characters other than a-z, 0-9 and _")]
    [InlineData("sl_{{caller}}_{{nonce}}", "'{{nonce}}' is not a placeholder")]
    [InlineData("sl_{{caller}}_{{random}", "unfinished placeholder")]
    [InlineData("{{caller}}_{{random}}", "must start with a fixed prefix")]
    [InlineData("s_{{caller}}_{{random}}", "must start with a fixed prefix")]
    [InlineData("1sl_{{caller}}_{{random}}", "must start with a fixed prefix")]
    [InlineData("pg_{{caller}}_{{random}}", "PostgreSQL reserves")]
    [InlineData("sl_{{caller}}", "must hold {{random}}")]
    [InlineData("sl_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_{{caller}}_{{random}}", "PostgreSQL cuts role names at 63")]
    public void Bad_templates_are_refused_with_the_reason(string text, string problem)
    {
        Assert.Null(RoleNameTemplate.Parse(text, out var problems));
        Assert.Contains(problems, p => p.Contains(problem, StringComparison.Ordinal));
    }

    [Fact]
    public void Sql_templates_substitute_known_placeholders_and_refuse_unknown_or_missing_ones()
    {
        var creation = SqlTemplate.Parse("CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}';", ["name", "password", "expiry"], ["name", "password", "expiry"], out var none);
        Assert.Empty(none);
        Assert.Equal("CREATE ROLE \"sl_a_abcdefgh\" LOGIN PASSWORD 'SCRAM-SHA-256$x' VALID UNTIL '2026-11-23T11:00:00Z';",
            creation!.Render(new Dictionary<string, string> { ["name"] = "sl_a_abcdefgh", ["password"] = "SCRAM-SHA-256$x", ["expiry"] = "2026-11-23T11:00:00Z" }));

        Assert.Null(SqlTemplate.Parse("DROP ROLE \"{{name}}\"; -- {{password}}", ["name"], ["name"], out var unknown));
        Assert.Contains(unknown, p => p.Contains("'{{password}}' is not a placeholder here", StringComparison.Ordinal));
        Assert.Null(SqlTemplate.Parse("CREATE ROLE \"{{name}}\" LOGIN;", ["name", "password", "expiry"], ["name", "password", "expiry"], out var missing));
        Assert.Contains("must use {{password}}", missing);
        Assert.Contains("must use {{expiry}}", missing);
        Assert.Null(SqlTemplate.Parse("DROP ROLE \"{{name}\";", ["name"], ["name"], out var unfinished));
        Assert.Contains(unfinished, p => p.Contains("unfinished placeholder", StringComparison.Ordinal));
    }

    [Fact]
    public void Data_rows_are_read_in_text_with_nulls_and_a_bad_length_is_a_protocol_violation()
    {
        // Two columns: "sl_a" and NULL.
        byte[] row = [0, 2, 0, 0, 0, 4, (byte)'s', (byte)'l', (byte)'_', (byte)'a', 0xFF, 0xFF, 0xFF, 0xFF];
        Assert.Equal(new string?[] { "sl_a", null }, PgWire.DataRow(row));
        Assert.Throws<PgProtocolException>(() => PgWire.DataRow([0, 1, 0, 0, 0, 9, (byte)'x']));
        Assert.Throws<PgProtocolException>(() => PgWire.DataRow([0, 1, 0, 0]));
        Assert.Equal("CREATE ROLE", PgWire.Text("CREATE ROLE\0"u8));
        Assert.Equal((byte)'Q', PgWire.Query("select 1")[0]);
        Assert.Throws<ArgumentException>(() => PgWire.Query("select 1\0; drop"));
    }

    private const string Creation = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}'; GRANT SELECT ON items TO \"{{name}}\";";

    private static string Config(string credential = "", string database = "orders", string roles = "{ app: orders-dynamic }", string extra = "") => $$"""
        listeners:
          - name: pg
            protocol: postgres
            url: tcp://127.0.0.1:0
            identity: app
        identities:
          app: { spiffeId: spiffe://example.org/ns/shop/sa/app }
        credentials:
          orders-dynamic:
            provider: postgres-dynamic
            database: {{database}}
            adminUser: secretless_admin
            adminPasswordFile: admin.pw
            creation: |
              {{Creation}}
        {{credential}}
        databases:
          orders:
            host: 127.0.0.1
            sslmode: disable
            roles: {{roles}}
        {{extra}}
        policies:
          - name: app-uses-orders
            allow: [app]
            databases: [orders]
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        var result = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        result.Config?.Dispose();
        return result;
    }

    private async Task<string> ErrorsAsync(string text)
    {
        var result = await CompileAsync(text);
        Assert.Null(result.Config);
        return string.Join("\n", result.Errors);
    }

    [Fact]
    public async Task A_valid_config_builds_a_workload_bound_provider_on_its_database()
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, Config());
        var result = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        Assert.True(result.Config is not null, string.Join("\n", result.Errors));
        using var config = result.Config;
        var provider = Assert.IsType<DynamicRoleProvider>(config.Credentials["orders-dynamic"].Provider);
        Assert.True(provider.IsWorkloadBound);
        Assert.Equal("orders", provider.DatabaseName);
        Assert.Equal("sl_", provider.Names.Prefix);
        // Without a caller there is no role to make.
        var missing = await Assert.ThrowsAsync<CredentialUnavailableException>(() => provider.GetCredentialAsync(new CredentialRequest("orders-dynamic", "postgres:orders", null), default).AsTask());
        Assert.Contains("verified caller", missing.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_database_is_reported_with_a_suggestion()
    {
        var text = await ErrorsAsync(Config(database: "ordrs"));
        Assert.Contains("credentials.orders-dynamic.database: names database 'ordrs', which is not defined under databases", text, StringComparison.Ordinal);
        Assert.Contains("did you mean 'orders'?", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_creation_missing_admin_password_and_a_bad_template_and_ttl_are_each_reported()
    {
        var config = Config()
            .Replace("    creation: |\n      " + Creation + "\n", "    usernameTemplate: \"SL-{{caller}}\"\n    ttl: 5s\n", StringComparison.Ordinal)
            .Replace("    adminPasswordFile: admin.pw\n", "", StringComparison.Ordinal);
        var text = await ErrorsAsync(config);
        Assert.Contains("credentials.orders-dynamic.creation: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.orders-dynamic.adminPasswordFile: or adminPasswordEnv is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.orders-dynamic.usernameTemplate: 'SL-' holds characters other than a-z, 0-9 and _", text, StringComparison.Ordinal);
        Assert.Contains("credentials.orders-dynamic.usernameTemplate: must hold {{random}}", text, StringComparison.Ordinal);
        Assert.Contains("credentials.orders-dynamic.ttl: is not a duration from 10 s to 31 days", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Creation_without_expiry_or_password_an_unknown_placeholder_and_both_password_sources_are_refused()
    {
        var config = Config()
            .Replace(Creation, "CREATE ROLE \"{{name}}\" LOGIN; -- {{caller}}", StringComparison.Ordinal)
            .Replace("    adminPasswordFile: admin.pw\n", "    adminPasswordFile: admin.pw\n    adminPasswordEnv: PG_ADMIN\n    revocation: DROP ROLE x;\n", StringComparison.Ordinal);
        var text = await ErrorsAsync(config);
        Assert.Contains("creation: must use {{password}}", text, StringComparison.Ordinal);
        Assert.Contains("creation: must use {{expiry}}", text, StringComparison.Ordinal);
        Assert.Contains("creation: '{{caller}}' is not a placeholder here", text, StringComparison.Ordinal);
        Assert.Contains("revocation: must use {{name}}", text, StringComparison.Ordinal);
        Assert.Contains("adminPasswordEnv: cannot be set together with adminPasswordFile", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dynamic_credential_serves_only_its_own_database_as_the_role_itself_and_never_an_http_route()
    {
        var otherDatabase = Config(extra: """
              reports:
                host: 127.0.0.1
                sslmode: disable
                roles: { app: orders-dynamic }
            """);
        Assert.Contains("databases.reports.roles.app: names credential 'orders-dynamic', whose roles are made on database 'orders'", await ErrorsAsync(otherDatabase), StringComparison.Ordinal);

        var fixedUser = Config(roles: "{ app: { credential: orders-dynamic, user: orders_rw } }");
        Assert.Contains("databases.orders.roles.app.user: cannot be set: credential 'orders-dynamic' makes a role per caller", await ErrorsAsync(fixedUser), StringComparison.Ordinal);

        var route = Config() + """

            ReverseProxy:
              Routes:
                r: { ClusterId: c, Match: { Path: "/{**rest}" }, Metadata: { Credential: orders-dynamic } }
              Clusters:
                c: { Destinations: { d: { Address: "http://127.0.0.1:1/" } } }
            """;
        Assert.Contains("ReverseProxy.Routes.r.Metadata.Credential: names credential 'orders-dynamic', which makes database roles", await ErrorsAsync(route), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_with_errors_is_named_as_such_not_as_unknown()
    {
        var text = await ErrorsAsync(Config().Replace("    host: 127.0.0.1\n", "", StringComparison.Ordinal));
        Assert.Contains("databases.orders.host: is required", text, StringComparison.Ordinal);
        Assert.Contains("credentials.orders-dynamic.database: names database 'orders', which has errors", text, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
