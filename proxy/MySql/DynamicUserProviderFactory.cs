using System.Globalization;
using Microsoft.Extensions.Logging;
using SecretlessProxy.DynamicUsers;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Databases;

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

    private static readonly DynamicUserEngineText Text = new(
        DatabaseEngine.MySql,
        "name the databases entry (engine: mysql) the users are made on, e.g. database: shop",
        "give it engine: mysql, or use provider: postgres-dynamic",
        "the MySQL user the proxy logs in as to create and drop users (CREATE USER, and the privileges it grants WITH GRANT OPTION), e.g. adminUser: secretless_admin",
        "MYSQL_ADMIN_PASSWORD");

    private static readonly string[] CreationPlaceholders = ["name", "password"];
    private static readonly string[] RevocationPlaceholders = ["name"];

    public string Name => ProviderName;

    public IReadOnlyCollection<string> Keys { get; } =
        DynamicUserConfig.CommonKeys;

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
        DynamicUserConfig.ValidateCommon(config, databases, Text, NameLimit);
        if (config.Get("creation") is not { } creation)
        {
            config.Error("creation", "is required",
                "the SQL that makes the user, e.g. creation: CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}'; GRANT SELECT ON shop.* TO '{{name}}'@'%';");
        }
        else
        {
            DynamicUserConfig.CheckTemplate(config, "creation", creation, CreationPlaceholders, CreationPlaceholders, "CREATE USER '{{name}}'@'%' IDENTIFIED BY PASSWORD '{{password}}'; ({{password}} is the mysql_native_password hash)");
        }
        if (config.Get("revocation") is { } revocation)
        {
            DynamicUserConfig.CheckTemplate(config, "revocation", revocation, RevocationPlaceholders, RevocationPlaceholders, "DROP USER IF EXISTS '{{name}}'@'%'; (or leave it out: the default drops the user at each of its hosts)");
        }
    }

    public ICredentialProvider Build(PluginConfig config, DatabaseCatalog databases)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(databases);
        return new DynamicUserProvider(
            config.EntityName,
            databases.Compiled[config.Get(IDatabaseCredentialFactory.DatabaseKey)!],
            config.Get("adminUser")!,
            DynamicUserConfig.AdminPasswordOf(config),
            RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out _, NameLimit)!,
            DynamicUserConfig.EffectiveTtl(config),
            SqlTemplate.Parse(config.Get("creation")!, CreationPlaceholders, CreationPlaceholders, out _)!,
            config.Get("revocation") is { } revocation ? SqlTemplate.Parse(revocation, RevocationPlaceholders, RevocationPlaceholders, out _) : null,
            config.TimeProvider,
            config.LoggerFactory.CreateLogger<DynamicUserProvider>());
    }

}
