using System.Globalization;
using Microsoft.Extensions.Logging;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Databases;

namespace SecretlessProxy.Postgres;

/// <summary>
/// <c>provider: postgres-dynamic</c> — a PostgreSQL role made for the calling workload, as Vault's database secrets
/// engine makes them: the proxy logs in to the credential's <c>database</c> entry as <c>adminUser</c>, runs
/// <c>creation</c> (a role named by <c>usernameTemplate</c>, a random password sent only as its SCRAM verifier,
/// <c>VALID UNTIL</c> now + <c>ttl</c>), and hands the gateway that role and password; <c>renewal</c> extends it,
/// <c>revocation</c> drops it when it is revoked or has expired.
/// </summary>
internal sealed class DynamicRoleProviderFactory : IDatabaseCredentialFactory
{
    public const string ProviderName = "postgres-dynamic";

    private static readonly DynamicUserEngineText Text = new(
        DatabaseEngine.Postgres,
        "name the databases entry the roles are made on (its host, port, sslmode, caFile and auth are used for the admin connection), e.g. database: orders",
        "use provider: mysql-dynamic for a MySQL/MariaDB database",
        "the PostgreSQL role the proxy logs in as to create and drop roles (CREATEROLE, and the privileges it grants), e.g. adminUser: secretless_admin",
        "PG_ADMIN_PASSWORD");

    /// <summary>Terminate the role's sessions, hand what it owns to the admin, drop its privileges, drop it.</summary>
    public const string DefaultRevocation = """
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
        REASSIGN OWNED BY "{{name}}" TO CURRENT_USER;
        DROP OWNED BY "{{name}}";
        DROP ROLE IF EXISTS "{{name}}";
        """;

    private static readonly string[] CreationPlaceholders = ["name", "password", "expiry"];
    private static readonly string[] RenewalPlaceholders = ["name", "expiry"];
    private static readonly string[] RevocationPlaceholders = ["name"];

    public string Name => ProviderName;

    public IReadOnlyCollection<string> Keys { get; } =
        [.. DynamicUserConfig.CommonKeys, "renewal"];

    /// <summary>Names, paths, templates and SQL: the admin password itself is never in the config.</summary>
    public IReadOnlyCollection<string> EchoableKeys => Keys;

    /// <summary>Only a host that hands over the compiled databases can build this provider: say so rather than build it half.</summary>
    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Error(IDatabaseCredentialFactory.DatabaseKey, "cannot be resolved here: postgres-dynamic is validated with the config's databases", "validate the whole config (secretless-proxy validate)");
    }

    public ICredentialProvider Build(PluginConfig config) =>
        throw new InvalidOperationException("postgres-dynamic is built with the config's databases (IDatabaseCredentialFactory)");

    public void Validate(PluginConfig config, DatabaseCatalog databases)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(databases);
        DynamicUserConfig.ValidateCommon(config, databases, Text, RoleNameTemplate.MaxLength);
        if (config.Get("creation") is not { } creation)
        {
            config.Error("creation", "is required",
                "the SQL that makes the role, e.g. creation: CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}'; GRANT SELECT ON items TO \"{{name}}\";");
        }
        else
        {
            DynamicUserConfig.CheckTemplate(config, "creation", creation, CreationPlaceholders, CreationPlaceholders,
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}'; ({{expiry}} is required: a role the proxy cannot drop must expire by itself)");
        }
        if (config.Get("renewal") is { } renewal)
        {
            DynamicUserConfig.CheckTemplate(config, "renewal", renewal, RenewalPlaceholders, RenewalPlaceholders, "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiry}}';");
        }
        if (config.Get("revocation") is { } revocation)
        {
            DynamicUserConfig.CheckTemplate(config, "revocation", revocation, RevocationPlaceholders, RevocationPlaceholders, "DROP ROLE IF EXISTS \"{{name}}\"; (or leave it out for the default, which also ends the role's sessions)");
        }
    }

    public ICredentialProvider Build(PluginConfig config, DatabaseCatalog databases)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(databases);
        return new DynamicRoleProvider(
            config.EntityName,
            databases.Compiled[config.Get(IDatabaseCredentialFactory.DatabaseKey)!],
            config.Get("adminUser")!,
            DynamicUserConfig.AdminPasswordOf(config),
            RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out _)!,
            DynamicUserConfig.EffectiveTtl(config),
            SqlTemplate.Parse(config.Get("creation")!, CreationPlaceholders, CreationPlaceholders, out _)!,
            config.Get("renewal") is { } renewal ? SqlTemplate.Parse(renewal, RenewalPlaceholders, RenewalPlaceholders, out _) : null,
            SqlTemplate.Parse(config.Get("revocation") ?? DefaultRevocation, RevocationPlaceholders, RevocationPlaceholders, out _)!,
            config.TimeProvider,
            config.LoggerFactory.CreateLogger<DynamicRoleProvider>());
    }

}
