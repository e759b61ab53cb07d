using System.Globalization;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Databases;

namespace SecretlessProxy.DynamicUsers;

/// <summary>What one engine's dynamic-user provider says in its errors: the examples and hints differ, the checks do not.</summary>
internal sealed record DynamicUserEngineText(
    DatabaseEngine Engine,
    string DatabaseExample,
    string WrongEngine,
    string AdminUserExample,
    string AdminPasswordVariableExample);

/// <summary>
/// The keys every dynamic database user provider shares (<c>database</c>, <c>adminUser</c>, <c>adminPasswordFile</c> or
/// <c>adminPasswordEnv</c>, <c>usernameTemplate</c>, <c>ttl</c>) and the checks of its SQL templates: one set of rules
/// for <c>postgres-dynamic</c> and <c>mysql-dynamic</c>.
/// </summary>
internal static class DynamicUserConfig
{
    public static readonly TimeSpan DefaultTtl = TimeSpan.FromHours(1);
    public static readonly TimeSpan MinTtl = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(31);

    public static readonly string[] CommonKeys =
        [IDatabaseCredentialFactory.DatabaseKey, "adminUser", "adminPasswordFile", "adminPasswordEnv", "usernameTemplate", "ttl", "creation", "revocation"];

    /// <summary>Reports every problem of the shared keys; <paramref name="nameLimit"/> is the engine's longest user name.</summary>
    public static void ValidateCommon(PluginConfig config, DatabaseCatalog databases, DynamicUserEngineText text, int nameLimit)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(databases);
        ArgumentNullException.ThrowIfNull(text);
        var database = config.Get(IDatabaseCredentialFactory.DatabaseKey);
        if (database is null)
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, "is required", text.DatabaseExample);
        }
        else if (!databases.Declared.Contains(database, StringComparer.Ordinal))
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which is not defined under databases", KeySuggestion.Fix(database, databases.Declared, "databases"));
        }
        else if (!databases.Compiled.TryGetValue(database, out var compiled))
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which has errors (reported above)", "fix the database entry");
        }
        else if (compiled.Engine != text.Engine)
        {
            config.Error(IDatabaseCredentialFactory.DatabaseKey, $"names database '{database}', which is not a {(text.Engine == DatabaseEngine.MySql ? "MySQL" : "PostgreSQL")} database", text.WrongEngine);
        }
        if (config.Get("adminUser") is null)
        {
            config.Error("adminUser", "is required", text.AdminUserExample);
        }
        var file = config.Get("adminPasswordFile");
        var variable = config.Get("adminPasswordEnv");
        if ((file is null) == (variable is null))
        {
            config.Error(file is null ? "adminPasswordFile" : "adminPasswordEnv", file is null ? "or adminPasswordEnv is required" : "cannot be set together with adminPasswordFile",
                $"give the admin password as a file (adminPasswordFile: admin.pw) or an environment variable (adminPasswordEnv: {text.AdminPasswordVariableExample}), never in the config");
        }
        if (variable is not null && variable.Contains('=', StringComparison.Ordinal))
        {
            config.Error("adminPasswordEnv", "is not a valid environment variable name", "use the variable's name only, without '=' or a value");
        }
        if (RoleNameTemplate.Parse(config.Get("usernameTemplate") ?? RoleNameTemplate.DefaultText, out var nameProblems, nameLimit) is null)
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
    }

    /// <summary>Reports each problem of one SQL template key.</summary>
    public static void CheckTemplate(PluginConfig config, string key, string text, string[] allowed, string[] required, string example)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (SqlTemplate.Parse(text, allowed, required, out var problems) is null)
        {
            foreach (var problem in problems)
            {
                config.Error(key, problem, "e.g. " + example);
            }
        }
    }

    /// <summary><c>ttl</c> (default 1 h), or null when it is not a duration within the bounds.</summary>
    public static TimeSpan? Ttl(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Get("ttl") is not { } text)
        {
            return DefaultTtl;
        }
        var ttl = Durations.Parse(text) ?? (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) ? parsed : null);
        return ttl >= MinTtl && ttl <= MaxTtl ? ttl : null;
    }

    /// <summary>
    /// The lifetime a user is made with: <c>ttl</c>, capped at the credential's <c>maxTtl</c> (the broker lets go of it
    /// then, so the user expires when the broker is done with it).
    /// </summary>
    public static TimeSpan EffectiveTtl(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var ttl = Ttl(config)!.Value;
        return config.Section["maxTtl"] is { } max && TimeSpan.TryParse(max, CultureInfo.InvariantCulture, out var maxTtl) && maxTtl < ttl ? maxTtl : ttl;
    }

    /// <summary>Where the admin password is read from, with a relative file resolved against the config's folder.</summary>
    public static AdminPassword AdminPasswordOf(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var file = config.Get("adminPasswordFile");
        return new AdminPassword(file is null ? null : config.ResolvePath(file), config.Get("adminPasswordEnv"));
    }
}
