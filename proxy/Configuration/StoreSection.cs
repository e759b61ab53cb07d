using Microsoft.Extensions.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>A store named once under <c>stores</c>: its type (and the provider that reads it), owner and team.</summary>
public sealed record StoreInfo(string Name, string Type, string Provider, string? Description, string? Owner, string? Team, string? Location);

/// <summary>
/// <c>stores</c>: each secret store named once (<c>stores: { vault-prod: { type: vault, address: …, auth: … } }</c>);
/// a credential refers to one (<c>store: vault-prod</c>, <c>path: …</c>) instead of repeating the connection settings.
/// Expanded before anything else compiles: a credential with <c>store:</c> gets the store's provider and settings copied
/// in (its own <c>path</c> translated into the provider's keys), so the providers validate and build exactly as they do
/// for inline credentials, and errors on copied keys point at the store's lines.
/// </summary>
internal static class StoreSection
{
    private static readonly string[] CommonKeys = ["type", "description", "owner", "team"];

    /// <summary>One store type: the provider it stands for, keys only the store may set, keys a credential may override, store-only keys.</summary>
    internal sealed record StoreType(string Type, string Provider, string[] Connection, string[] Defaults, string[] StoreOnly, string PathExample);

    internal static readonly IReadOnlyDictionary<string, StoreType> Types = new Dictionary<string, StoreType>(StringComparer.OrdinalIgnoreCase)
    {
        ["vault"] = new("vault", "vault", ["address", "namespace", "caFile", "auth"], ["timeout", "refreshInterval"], ["kvMount"], "path: payments/billing, field: token (a KV v2 field; dynamic: { path: database/creds/app } for a lease)"),
        ["aws-secrets-manager"] = new("aws-secrets-manager", "aws-secrets-manager", ["region", "endpoint", "auth"], ["timeout", "ttl"], [], "path: prod/payments/api-key (the secret id or ARN)"),
        ["azure-key-vault"] = new("azure-key-vault", "azure-key-vault", ["vaultUri", "caFile", "verifyChallengeResource", "auth"], ["timeout", "ttl"], [], "path: billing-api-key (the secret's name; version: to pin one)"),
        ["google-secret-manager"] = new("google-secret-manager", "google-secret-manager", ["project", "endpoint", "caFile", "auth"], ["timeout", "ttl"], [], "path: billing-api-key (the secret's id in the store's project; version: to pin one)"),
        ["kubernetes"] = new("kubernetes", "kubernetes-secret", ["apiServer", "tokenFile", "caFile"], ["namespace", "timeout"], [], "path: payments/api-keys (NAMESPACE/NAME, or NAME in the store's namespace), key: token"),
        ["file"] = new("file", "file", [], ["trim", "pollInterval"], ["directory"], "path: billing-token.txt (relative to the store's directory)"),
    };

    /// <summary>What the expansion found: the stores, and the problems to report on the expanded document.</summary>
    internal sealed record Expansion(ConfigDocument Document, Dictionary<string, StoreInfo> Stores, List<(string Key, string Message, string Fix)> Problems);

    public static Expansion Expand(ConfigDocument document)
    {
        var problems = new List<(string, string, string)>();
        var stores = new Dictionary<string, StoreInfo>(StringComparer.OrdinalIgnoreCase);
        var section = document.Root.GetSection("stores");
        var types = new Dictionary<string, (StoreType Type, IConfigurationSection Section)>(StringComparer.OrdinalIgnoreCase);
        foreach (var store in section.GetChildren())
        {
            var typeName = ConfigSections.Value(store, "type");
            if (typeName is null || !Types.TryGetValue(typeName, out var type))
            {
                problems.Add((store.Path + ":type", typeName is null ? "is required" : $"'{typeName}' is not a store type", "write type: " + string.Join(" | ", Types.Keys.Order(StringComparer.Ordinal))));
                continue;
            }
            var known = new HashSet<string>(CommonKeys.Concat(type.Connection).Concat(type.Defaults).Concat(type.StoreOnly), StringComparer.OrdinalIgnoreCase);
            foreach (var child in store.GetChildren().Where(c => !known.Contains(c.Key)))
            {
                problems.Add((child.Path, $"'{child.Key}' is not a key of a '{type.Type}' store", KeySuggestion.Fix(child.Key, known.Order(StringComparer.Ordinal), "keys") + "; credential-specific keys (path, field, key, jsonKey, …) go on the credential"));
            }
            if (type.Type == "file" && ConfigSections.Value(store, "directory") is null)
            {
                problems.Add((store.Path + ":directory", "is required", "name the folder the store's secret files are in, e.g. directory: /run/secrets"));
            }
            var owner = Ownership.Read(store, "owner", problems);
            var team = Ownership.Read(store, "team", problems);
            var location = ConfigSections.Value(store, "address") ?? ConfigSections.Value(store, "vaultUri") ?? ConfigSections.Value(store, "endpoint") ?? ConfigSections.Value(store, "apiServer")
                ?? ConfigSections.Value(store, "directory") ?? ConfigSections.Value(store, "region");
            types[store.Key] = (type, store);
            stores[store.Key] = new StoreInfo(store.Key, type.Type, type.Provider, ConfigSections.Value(store, "description"), owner, team, location);
        }
        if (section.Value is not null)
        {
            problems.Add((section.Path, "must be a mapping of store names", "write stores: { vault-prod: { type: vault, address: https://vault:8200, auth: { method: kubernetes, role: proxy } } }"));
        }

        var credentials = document.Root.GetSection("credentials").GetChildren().Where(c => ConfigSections.Value(c, "store") is not null).ToList();
        if (credentials.Count == 0)
        {
            return new Expansion(document, stores, problems);
        }
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in document.Root.AsEnumerable())
        {
            if (value is not null)
            {
                values[key] = value;
            }
        }
        var sources = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var credential in credentials)
        {
            var name = ConfigSections.Value(credential, "store")!;
            if (ConfigSections.Value(credential, "provider") is not null)
            {
                problems.Add((credential.Path + ":provider", "and 'store' are both given", $"keep store: {name} (the store says which provider reads it), or remove store and write the connection settings inline"));
                continue;
            }
            if (!types.TryGetValue(name, out var found))
            {
                if (!section.GetSection(name).Exists())
                {
                    problems.Add((credential.Path + ":store", $"'{name}' is not a store under 'stores'", KeySuggestion.Fix(name, stores.Keys.Order(StringComparer.Ordinal), "stores")));
                }
                continue;
            }
            var (type, store) = found;
            values[credential.Path + ":provider"] = type.Provider;
            sources[credential.Path + ":provider"] = credential.Path + ":store";
            foreach (var child in store.GetChildren())
            {
                if (CommonKeys.Contains(child.Key, StringComparer.OrdinalIgnoreCase) || type.StoreOnly.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                {
                    continue;
                }
                if (credential.GetSection(child.Key).Exists())
                {
                    if (type.Connection.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                    {
                        problems.Add((credential.GetSection(child.Key).Path, $"is set by store '{name}' (stores.{name}.{child.Key})", $"remove it here: a store's connection settings are written once; define another store for another {child.Key}"));
                    }
                    continue;
                }
                Copy(child, credential.Path + ":" + child.Key, values, sources);
            }
            Translate(type, store, credential, values, sources, problems);
        }
        return new Expansion(document.With(values, sources), stores, problems);
    }

    private static void Copy(IConfigurationSection from, string to, Dictionary<string, string?> values, Dictionary<string, string> sources)
    {
        sources[to] = from.Path;
        if (from.Value is not null)
        {
            values[to] = from.Value;
        }
        foreach (var child in from.GetChildren())
        {
            Copy(child, to + ":" + child.Key, values, sources);
        }
    }

    private static void Move(IConfigurationSection credential, string from, string to, Dictionary<string, string?> values, Dictionary<string, string> sources)
    {
        if (ConfigSections.Value(credential, from) is { } value)
        {
            values.Remove(credential.Path + ":" + from);
            values[credential.Path + ":" + to] = value;
            sources[credential.Path + ":" + to] = credential.Path + ":" + from;
        }
    }

    /// <summary>The credential's <c>path</c> (and its companions) in the provider's own keys.</summary>
    private static void Translate(StoreType type, IConfigurationSection store, IConfigurationSection credential, Dictionary<string, string?> values, Dictionary<string, string> sources,
        List<(string, string, string)> problems)
    {
        var path = ConfigSections.Value(credential, "path");
        switch (type.Type)
        {
            case "vault":
                var inline = credential.GetSection("kv").Exists() || credential.GetSection("dynamic").Exists();
                if (path is not null && inline)
                {
                    problems.Add((credential.Path + ":path", "and 'kv'/'dynamic' are both given", "keep path (with field) for a KV v2 secret, or dynamic: { path: … } for a lease"));
                    return;
                }
                if (path is null)
                {
                    if (!inline)
                    {
                        problems.Add((credential.Path + ":path", "is required", "write " + type.PathExample));
                    }
                    return;
                }
                Move(credential, "path", "kv:path", values, sources);
                foreach (var key in (string[])["field", "version", "usernameField"])
                {
                    Move(credential, key, "kv:" + key, values, sources);
                }
                values[credential.Path + ":kv:mount"] = ConfigSections.Value(store, "kvMount") ?? "secret";
                sources[credential.Path + ":kv:mount"] = store.GetSection("kvMount").Exists() ? store.Path + ":kvMount" : credential.Path + ":store";
                break;
            case "aws-secrets-manager":
                if (path is not null && ConfigSections.Value(credential, "secretId") is not null)
                {
                    problems.Add((credential.Path + ":path", "and 'secretId' are both given", "keep one of them"));
                    return;
                }
                Move(credential, "path", "secretId", values, sources);
                break;
            case "azure-key-vault" or "google-secret-manager":
                if (path is not null && ConfigSections.Value(credential, "secret") is not null)
                {
                    problems.Add((credential.Path + ":path", "and 'secret' are both given", "keep one of them"));
                    return;
                }
                Move(credential, "path", "secret", values, sources);
                break;
            case "kubernetes":
                if (path is null)
                {
                    break;
                }
                values.Remove(credential.Path + ":path");
                var slash = path.IndexOf('/', StringComparison.Ordinal);
                values[credential.Path + ":name"] = slash < 0 ? path : path[(slash + 1)..];
                sources[credential.Path + ":name"] = credential.Path + ":path";
                if (slash >= 0)
                {
                    values[credential.Path + ":namespace"] = path[..slash];
                    sources[credential.Path + ":namespace"] = credential.Path + ":path";
                }
                break;
            case "file":
                if (path is null)
                {
                    problems.Add((credential.Path + ":path", "is required", "write " + type.PathExample));
                    return;
                }
                if (Path.IsPathRooted(path) || path.Replace('\\', '/').Split('/').Any(s => s is ".." or "."))
                {
                    problems.Add((credential.Path + ":path", "must be a plain relative path inside the store's directory", "write e.g. path: billing-token.txt or path: team-a/token (no leading '/', no '..')"));
                    return;
                }
                if (ConfigSections.Value(store, "directory") is { } directory)
                {
                    values[credential.Path + ":path"] = Path.Combine(directory, path);
                }
                break;
        }
    }
}
