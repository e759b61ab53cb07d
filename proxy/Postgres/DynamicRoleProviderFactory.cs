using System.Globalization;
using Microsoft.Extensions.Logging;
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

    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(1);
    public static readonly TimeSpan MinTtl = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(31);

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
        [IDatabaseCredentialFactory.DatabaseKey, "adminUser", "adminPasswordFile", "adminPasswordEnv", "usernameTemplate", "ttl", "creation", "renewal", "revocation"];

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
        var database = config.Get(IDatabaseCredentialFactory.DatabaseKey);
        if (database is null)
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, "is required", "name the databases entry the roles are made on (its host, port, sslmode, caFile and auth are used for the admin connection), e.g. database: orders");
        }
        else if (!databases.Declared.Contains(database, StringComparer.Ordinal))
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which is not defined under databases", KeySuggestion.Fix(database, databases.Declared, "databases"));
        }
        else if (!databases.Compiled.ContainsKey(database))
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which has errors (reported above)", "fix the database entry");
        }
        else if (databases.Compiled[database].Engine != DatabaseEngine.Postgres)
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which is not a PostgreSQL database", "use provider: mysql-dynamic for a MySQL/MariaDB database");
        }
        if (config.Get("adminUser") is null)
        {
            config.Error("adminUser", "is required", "the PostgreSQL role the proxy logs in as to create and drop roles (CREATEROLE, and the privileges it grants), e.g. adminUser: secretless_admin");
        }
        var file = config.Get("adminPasswordFile");
        var variable = config.Get("adminPasswordEnv");
        if ((file is null) == (variable is null))
        {
            config.Error(file is null ? "adminPasswordFile" : "adminPasswordEnv", file is null ? "or adminPasswordEnv is required" : "cannot be set together with adminPasswordFile",
                "give the admin password as a file (adminPasswordFile: admin.pw) or an environment variable (adminPasswordEnv: PG_ADMIN_PASSWORD), never in the config");
        }
        if (variable is not null && variable.Contains('=', StringComparison.Ordinal))
        {
            config.Error("adminPasswordEnv", "is not a valid environment variable name", "use the variable's name only, without '=' or a value");
        }
        if (RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out var nameProblems) is null)
        {
            foreach (var problem in nameProblems)
            {
                config.Error("usernameTemplate", problem, $"e.g. usernameTemplate: \"{RoleNameTemplate.DefaultText}\"");
            }
        }
        if (Ttl(config) is null)
        {
            config.Error("ttl", $"is not a duration from {MinTtl.TotalSeconds:0} s to {MaxTtl.TotalDays:0} days", "e.g. ttl: 1h (or 00:30:00)");
        }
        if (config.Get("creation") is not { } creation)
        {
            config.Error("creation", "is required",
                "the SQL that makes the role, e.g. creation: CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}'; GRANT SELECT ON items TO \"{{name}}\";");
        }
        else
        {
            Check(config, "creation", creation, CreationPlaceholders, CreationPlaceholders,
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiry}}'; ({{expiry}} is required: a role the proxy cannot drop must expire by itself)");
        }
        if (config.Get("renewal") is { } renewal)
        {
            Check(config, "renewal", renewal, RenewalPlaceholders, RenewalPlaceholders, "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiry}}';");
        }
        if (config.Get("revocation") is { } revocation)
        {
            Check(config, "revocation", revocation, RevocationPlaceholders, RevocationPlaceholders, "DROP ROLE IF EXISTS \"{{name}}\"; (or leave it out for the default, which also ends the role's sessions)");
        }
    }

    private static void Check(PluginConfig config, string key, string text, string[] allowed, string[] required, string example)
    {
        if (SqlTemplate.Parse(text, allowed, required, out var problems) is null)
        {
            foreach (var problem in problems)
            {
                config.Error(key, problem, "e.g. " + example);
            }
        }
    }

    public ICredentialProvider Build(PluginConfig config, DatabaseCatalog databases)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(databases);
        var ttl = Ttl(config)!.Value;
        // The broker caps a lifetime at maxTtl: the role then expires when the broker lets go of it.
        if (config.Section["maxTtl"] is { } max && TimeSpan.TryParse(max, CultureInfo.InvariantCulture, out var maxTtl) && maxTtl < ttl)
        {
            ttl = maxTtl;
        }
        var file = config.Get("adminPasswordFile");
        return new DynamicRoleProvider(
            config.EntityName,
            databases.Compiled[config.Get(IDatabaseCredentialFactory.DatabaseKey)!],
            config.Get("adminUser")!,
            new AdminPassword(file is null ? null : config.ResolvePath(file), config.Get("adminPasswordEnv")),
            RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out _)!,
            ttl,
            SqlTemplate.Parse(config.Get("creation")!, CreationPlaceholders, CreationPlaceholders, out _)!,
            config.Get("renewal") is { } renewal ? SqlTemplate.Parse(renewal, RenewalPlaceholders, RenewalPlaceholders, out _) : null,
            SqlTemplate.Parse(config.Get("revocation") ?? DefaultRevocation, RevocationPlaceholders, RevocationPlaceholders, out _)!,
            config.TimeProvider,
            config.LoggerFactory.CreateLogger<DynamicRoleProvider>());
    }

    private static TimeSpan? Ttl(PluginConfig config)
    {
        if (config.Get("ttl") is not { } text)
        {
            return DefaultTtl;
        }
        var ttl = Durations.Parse(text) ?? (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) ? parsed : null);
        return ttl >= MinTtl && ttl <= MaxTtl ? ttl : null;
    }
}
