using System.Globalization;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Databases;
using SecretlessProxy.Postgres;

namespace SecretlessProxy.MySql;

/// <summary>
/// <c>provider: mysql-dynamic</c> — a MySQL/MariaDB user made for the calling workload, with the same lifecycle as
/// <c>postgres-dynamic</c>: the proxy logs in to the credential's <c>database</c> entry (an <c>engine: mysql</c> one) as
/// <c>adminUser</c>, runs <c>creation</c> (a user named by <c>usernameTemplate</c>, its password given as the
/// <c>mysql_native_password</c> hash, and its GRANTs), and hands the gateway that user and password; the user's sessions
/// are killed and the user dropped when the credential is revoked or expires (<c>ttl</c>, enforced by the proxy).
/// </summary>
internal sealed class DynamicUserProviderFactory : IDatabaseCredentialFactory
{
    public const string ProviderName = "mysql-dynamic";

    /// <summary>MySQL 8 takes user names of up to 32 characters (MariaDB 80): names are kept to 32.</summary>
    public const int NameLimit = 32;

    private static readonly string[] CreationPlaceholders = ["name", "password"];
    private static readonly string[] RevocationPlaceholders = ["name"];

    public string Name => ProviderName;

    public IReadOnlyCollection<string> Keys { get; } =
        [IDatabaseCredentialFactory.DatabaseKey, "adminUser", "adminPasswordFile", "adminPasswordEnv", "usernameTemplate", "ttl", "creation", "revocation"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Error(IDatabaseCredentialFactory.DatabaseKey, "cannot be resolved here: mysql-dynamic is validated with the config's databases", "validate the whole config (secretless-proxy validate)");
    }

    public ICredentialProvider Build(PluginConfig config) =>
        throw new InvalidOperationException("mysql-dynamic is built with the config's databases (IDatabaseCredentialFactory)");

    public void Validate(PluginConfig config, DatabaseCatalog databases)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(databases);
        var database = config.Get(IDatabaseCredentialFactory.DatabaseKey);
        if (database is null)
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, "is required", "name the databases entry (engine: mysql) the users are made on, e.g. database: shop");
        }
        else if (!databases.Declared.Contains(database, StringComparer.Ordinal))
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which is not defined under databases", KeySuggestion.Fix(database, databases.Declared, "databases"));
        }
        else if (!databases.Compiled.TryGetValue(database, out var compiled))
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which has errors (reported above)", "fix the database entry");
        }
        else if (compiled.Engine != DatabaseEngine.MySql)
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which is not a MySQL database", "give it engine: mysql, or use provider: postgres-dynamic");
        }
        if (config.Get("adminUser") is null)
        {
            config.Error("adminUser", "is required", "the MySQL user the proxy logs in as to create and drop users (CREATE USER, and the privileges it grants WITH GRANT OPTION), e.g. adminUser: secretless_admin");
        }
        var file = config.Get("adminPasswordFile");
        var variable = config.Get("adminPasswordEnv");
        if ((file is null) == (variable is null))
        {
            config.Error(file is null ? "adminPasswordFile" : "adminPasswordEnv", file is null ? "or adminPasswordEnv is required" : "cannot be set together with adminPasswordFile",
                "give the admin password as a file (adminPasswordFile: admin.pw) or an environment variable (adminPasswordEnv: MYSQL_ADMIN_PASSWORD), never in the config");
        }
        if (variable is not null && variable.Contains('=', StringComparison.Ordinal))
        {
            config.Error("adminPasswordEnv", "is not a valid environment variable name", "use the variable's name only, without '=' or a value");
        }
        if (RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out var nameProblems, NameLimit) is null)
        {
            foreach (var problem in nameProblems)
            {
                config.Error("usernameTemplate", problem, $"e.g. usernameTemplate: \"{RoleNameTemplate.DefaultText}\"");
            }
        }
        if (Ttl(config) is null)
        {
            config.Error("ttl", $"is not a duration from {Postgres.DynamicRoleProviderFactory.MinTtl.TotalSeconds:0} s to {Postgres.DynamicRoleProviderFactory.MaxTtl.TotalDays:0} days", "e.g. ttl: 1h (or 00:30:00)");
        }
        if (config.Get("creation") is not { } creation)
        {
            config.Error("creation", "is required",
                "the SQL that makes the user, e.g. creation: CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}'; GRANT SELECT ON shop.* TO '{{name}}'@'%';");
        }
        else
        {
            Check(config, "creation", creation, CreationPlaceholders, "CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}'; ({{password}} is the mysql_native_password hash)");
        }
        if (config.Get("revocation") is { } revocation)
        {
            Check(config, "revocation", revocation, RevocationPlaceholders, "DROP USER IF EXISTS '{{name}}'@'%'; (or leave it out: the default drops the user at each of its hosts)");
        }
    }

    private static void Check(PluginConfig config, string key, string text, string[] placeholders, string example)
    {
        if (SqlTemplate.Parse(text, placeholders, placeholders, out var problems) is null)
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
        if (config.Section["maxTtl"] is { } max && TimeSpan.TryParse(max, CultureInfo.InvariantCulture, out var maxTtl) && maxTtl < ttl)
        {
            ttl = maxTtl;
        }
        var file = config.Get("adminPasswordFile");
        return new DynamicUserProvider(
            config.EntityName,
            databases.Compiled[config.Get(IDatabaseCredentialFactory.DatabaseKey)!],
            config.Get("adminUser")!,
            new AdminPassword(file is null ? null : config.ResolvePath(file), config.Get("adminPasswordEnv")),
            RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out _, NameLimit)!,
            ttl,
            SqlTemplate.Parse(config.Get("creation")!, CreationPlaceholders, CreationPlaceholders, out _)!,
            config.Get("revocation") is { } revocation ? SqlTemplate.Parse(revocation, RevocationPlaceholders, RevocationPlaceholders, out _) : null,
            config.TimeProvider,
            config.LoggerFactory.CreateLogger<DynamicUserProvider>());
    }

    private static TimeSpan? Ttl(PluginConfig config)
    {
        if (config.Get("ttl") is not { } text)
        {
            return Postgres.DynamicRoleProviderFactory.DefaultTtl;
        }
        var ttl = Durations.Parse(text) ?? (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) ? parsed : null);
        return ttl >= Postgres.DynamicRoleProviderFactory.MinTtl && ttl <= Postgres.DynamicRoleProviderFactory.MaxTtl ? ttl : null;
    }
}
