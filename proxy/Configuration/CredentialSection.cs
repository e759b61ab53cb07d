using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials;
using SecretlessProxy.Databases;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>credentials</c>: each names a provider and an injector, which validate their own keys.</summary>
internal static class CredentialSection
{
    private static readonly string[] CommonKeys = ["provider", "inject", "description", "maxTtl", "refreshFraction", "store", "class", "owner", "team"];

    public static Dictionary<string, CredentialBinding> Compile(
        ConfigDocument document, ConfigErrorList errors, PluginCatalog catalog, TimeProvider time, ILoggerFactory loggers, List<string> watched, DatabaseCatalog? databases = null,
        IReadOnlyDictionary<string, SecretClass>? classes = null, IReadOnlyDictionary<string, StoreInfo>? stores = null)
    {
        databases ??= DatabaseCatalog.Empty;
        var result = new Dictionary<string, CredentialBinding>(StringComparer.OrdinalIgnoreCase);
        foreach (var credential in document.Root.GetSection("credentials").GetChildren())
        {
            var before = errors.Errors.Count;
            var providerName = ConfigSections.Value(credential, "provider");
            ICredentialProviderFactory? provider = null;
            if (providerName is null)
            {
                errors.Add(credential.Path + ":provider", "is required", $"choose where the secret comes from: provider: {string.Join(" | ", catalog.Providers.Keys.Order())}");
            }
            else if (!catalog.Providers.TryGetValue(providerName, out provider))
            {
                errors.Add(credential.Path + ":provider", $"'{providerName}' is not a known credential provider", KeySuggestion.Fix(providerName, catalog.Providers.Keys.Order(), "providers"));
            }
            var providerConfig = Plugin(document, errors, credential, credential.Key, time, loggers);
            if (provider is not null)
            {
                ConfigSections.CheckKnownKeys(credential, CommonKeys.Concat(provider.Keys), errors, $"a '{provider.Name}' credential");
                if (provider is IDatabaseCredentialFactory onDatabase)
                {
                    onDatabase.Validate(providerConfig, databases);
                }
                else
                {
                    provider.Validate(providerConfig);
                }
            }

            var inject = credential.GetSection("inject");
            var injectorName = ConfigSections.Value(inject, "type") ?? provider?.RequiredInjector ?? "header";
            if (provider?.RequiredInjector is { } required && !string.Equals(injectorName, required, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add(inject.Path + ":type", $"a '{provider.Name}' credential goes only with the '{required}' injector", $"remove inject.type (it defaults to {required}), or write inject: {{ type: {required} }}");
            }
            else if (provider is not null && provider.RequiredInjector is null && catalog.Providers.Values.FirstOrDefault(p => string.Equals(p.RequiredInjector, injectorName, StringComparison.OrdinalIgnoreCase)) is { } owner)
            {
                errors.Add(inject.Path + ":type", $"the '{injectorName}' injector serves only '{owner.Name}' credentials", $"use provider: {owner.Name}, or another injector for a '{provider.Name}' credential");
            }
            if (inject.Value is not null)
            {
                errors.Add(inject.Path, "must be a mapping", "write e.g. inject: { type: header, name: Authorization, template: \"Bearer {token}\" }");
            }
            if (!catalog.Injectors.TryGetValue(injectorName, out var injector))
            {
                errors.Add(inject.Path + ":type", $"'{injectorName}' is not a known injector", KeySuggestion.Fix(injectorName, catalog.Injectors.Keys.Order(), "injectors"));
            }
            var injectorConfig = Plugin(document, errors, inject, credential.Key, time, loggers);
            if (injector is not null)
            {
                ConfigSections.CheckKnownKeys(inject, injector.Keys.Append("type"), errors, $"a '{injector.Name}' injector");
                injector.Validate(injectorConfig);
            }

            var maxTtl = ReadMaxTtl(credential, errors);
            var ownership = Ownership.Read(credential, errors);
            SecretClass? secretClass = null;
            if (ConfigSections.Value(credential, "class") is { } className)
            {
                if (classes is not null && classes.TryGetValue(className, out var found))
                {
                    secretClass = found;
                    if (found.MaxTtl is { } classTtl)
                    {
                        maxTtl = maxTtl is { } own && own < classTtl ? own : classTtl;
                        if (provider is { IssuesStaticSecrets: true })
                        {
                            errors.Warn(credential.Path + ":class", $"class '{found.Name}' caps secrets at {classTtl}, but a '{provider.Name}' credential is a static secret with no lifetime to cap",
                                "move the secret to a store that issues leases or versions the proxy re-reads (vault, aws-secrets-manager), or to a minted credential; the reconcile report lists it");
                        }
                    }
                }
                else
                {
                    errors.Add(credential.Path + ":class", $"'{className}' is not a class under 'classes'", KeySuggestion.Fix(className, (classes?.Keys ?? Enumerable.Empty<string>()).Order(StringComparer.Ordinal), "classes"));
                }
            }
            var storeName = ConfigSections.Value(credential, "store");
            var storeInfo = storeName is not null && stores is not null ? stores.GetValueOrDefault(storeName) : null;
            var refreshFraction = ReadRefreshFraction(credential, errors);
            if (provider is { IssuesStaticSecrets: true })
            {
                foreach (var key in new[] { "maxTtl", "refreshFraction" })
                {
                    if (ConfigSections.Value(credential, key) is not null)
                    {
                        errors.Warn(credential.Path + ":" + key, $"has no effect on a '{provider.Name}' credential: it is a static secret with no expiry, read from its store",
                            "remove it, or move the upstream to a minted credential (OAuth2, jwt, STS) whose lifetime it would cap");
                    }
                }
            }
            if (provider is not null)
            {
                // Signing keys are read when the provider is built: a new key file must rebuild it.
                foreach (var key in provider.KeyFileKeys)
                {
                    if (ConfigSections.Value(credential, key) is { } file)
                    {
                        watched.Add(Path.GetFullPath(file, document.Directory));
                    }
                }
            }

            if (errors.Errors.Count == before && provider is not null && injector is not null)
            {
                // Offline, a provider that reads key files when built is not built: the files are mounted only at run time.
                var built = document.Offline && provider.KeyFileKeys.Any(key => ConfigSections.Value(credential, key) is not null)
                    ? new OfflineCredentialProvider(credential.Key)
                    : provider is IDatabaseCredentialFactory madeOnDatabase ? madeOnDatabase.Build(providerConfig, databases) : provider.Build(providerConfig);
                result[credential.Key] = new CredentialBinding(credential.Key, provider.Name, built, injector.Name, injector.Build(injectorConfig))
                {
                    MaxTtl = maxTtl,
                    RefreshFraction = refreshFraction,
                    Fingerprint = Fingerprint(credential),
                    Store = storeInfo?.Name ?? InlineStore(provider.Name, credential),
                    StoreIsNamed = storeInfo is not null,
                    StorePath = storeInfo is not null ? OriginalPath(document, credential) : Location(provider.Name, credential),
                    SourceFile = SourceFileOf(provider.Name, credential, document.Directory),
                    Class = secretClass,
                    Owner = ownership.Owner,
                    Team = ownership.Team,
                    StoreAuthDebt = StoreAuthDebtOf(provider.Name, credential),
                    IssuesStaticSecrets = provider.IssuesStaticSecrets || StaticStoreProviders.Contains(provider.Name) || (provider.Name == "vault" && credential.GetSection("kv").Exists()),
                };
            }
        }
        return result;
    }

    /// <summary>
    /// The credentials whose provider makes them on a <c>databases</c> entry, with the entry they name: a database role
    /// may use one only on that entry (its roles exist on that server, with the privileges granted in that database).
    /// </summary>
    public static Dictionary<string, string?> DatabaseBound(ConfigDocument document, PluginCatalog catalog)
    {
        var result = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var credential in document.Root.GetSection("credentials").GetChildren())
        {
            if (ConfigSections.Value(credential, "provider") is { } name && catalog.Providers.TryGetValue(name, out var provider) && provider is IDatabaseCredentialFactory)
            {
                result[credential.Key] = ConfigSections.Value(credential, IDatabaseCredentialFactory.DatabaseKey);
            }
        }
        return result;
    }

    /// <summary>Providers that read a long-lived secret from a store, though they cache it for a while (they re-read it).</summary>
    internal static readonly HashSet<string> StaticStoreProviders = new[] { "file", "env", "secret-dir", "aws-secrets-manager", "kubernetes-secret", "azure-key-vault", "google-secret-manager" }.ToHashSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>A sign-in to the store that is itself a long-lived secret (migration debt), or null.</summary>
    internal static string? StoreAuthDebtOf(string provider, IConfigurationSection credential) => provider switch
    {
        "google-secret-manager" when ConfigSections.Value(credential, "auth:method") == "service-account-key" =>
            "signs in to Google with a service-account key file (a long-lived key: migration debt; move to auth.method workload-identity-federation)",
        "vault" when ConfigSections.Value(credential, "auth:method") == "approle" =>
            "logs in to Vault with AppRole (its secret_id is a long-lived secret: migration debt; move to auth.method jwt, kubernetes or cert)",
        _ => null,
    };

    /// <summary>For an inline credential: its provider and the host it talks to, e.g. <c>inline:vault@vault.example.org:8200</c>.</summary>
    private static string InlineStore(string provider, IConfigurationSection credential)
    {
        var url = ConfigSections.Value(credential, "address") ?? ConfigSections.Value(credential, "vaultUri") ?? ConfigSections.Value(credential, "endpoint") ?? ConfigSections.Value(credential, "apiServer") ?? ConfigSections.Value(credential, "tokenUrl") ?? ConfigSections.Value(credential, "issuer");
        var host = url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.Authority : null;
        return "inline:" + provider + (host is null ? "" : "@" + host);
    }

    /// <summary>The path as the user wrote it on a credential that names a store (the expansion moved it into the provider's keys).</summary>
    private static string? OriginalPath(ConfigDocument document, IConfigurationSection credential)
    {
        var path = credential.Path;
        var root = document.Root;
        return root[path + ":kv:path"] is { } kv ? kv + (root[path + ":kv:field"] is { } field ? "#" + field : "")
            : root[path + ":dynamic:path"] ?? root[path + ":secretId"] ?? root[path + ":secret"] ?? (root[path + ":name"] is { } name ? (root[path + ":namespace"] is { } ns ? ns + "/" : "") + name + (root[path + ":key"] is { } key ? "#" + key : "") : null)
            ?? root[path + ":path"];
    }

    /// <summary>Where the secret lives in its store, from the provider's own keys; null for minted credentials.</summary>
    internal static string? Location(string provider, IConfigurationSection credential)
    {
        string? Get(string key) => ConfigSections.Value(credential, key);
        return provider switch
        {
            "file" => Get("path"),
            "client-certificate" => Get("keyFile"),
            "secret-dir" => Get("path") is { } dir ? dir.TrimEnd('/') + "/" + (Get("key") ?? "") : null,
            "env" => Get("variable") is { } variable ? "$" + variable : null,
            "vault" => Get("kv:path") is { } kv ? (Get("kv:mount") ?? "secret") + "/" + kv + (Get("kv:field") is { } field ? "#" + field : "") : Get("dynamic:path"),
            "aws-secrets-manager" => Get("secretId"),
            "azure-key-vault" => Get("secret") is { } secret ? secret + (Get("version") is { } version ? "/" + version : "") : null,
            "google-secret-manager" => Get("secret") is { } name ? $"projects/{Get("project")}/secrets/{name}/versions/{Get("version") ?? "latest"}" : null,
            "kubernetes-secret" => Get("name") is { } name ? (Get("namespace") is { } ns ? ns + "/" : "") + name + (Get("key") is { } key ? "#" + key : "") : null,
            _ => null,
        };
    }

    /// <summary>The file a store provider reads, resolved against the config's folder (its modification time is the secret's age).</summary>
    private static string? SourceFileOf(string provider, IConfigurationSection credential, string directory) => provider switch
    {
        "file" when ConfigSections.Value(credential, "path") is { } file && !file.Contains("{user}", StringComparison.Ordinal) => Path.GetFullPath(file, directory),
        "client-certificate" when ConfigSections.Value(credential, "keyFile") is { } key => Path.GetFullPath(key, directory),
        "secret-dir" when ConfigSections.Value(credential, "path") is { } dir && ConfigSections.Value(credential, "key") is { } key => Path.GetFullPath(Path.Combine(dir, key), directory),
        _ => null,
    };

    /// <summary>SHA-256 over the credential's keys and values (relative to the credential), sorted.</summary>
    private static string Fingerprint(IConfigurationSection credential)
    {
        var prefix = credential.Path.Length + 1;
        var text = string.Join('\n', credential.AsEnumerable()
            .Where(pair => pair.Value is not null && pair.Key.Length > prefix)
            .Select(pair => pair.Key[prefix..] + "=" + pair.Value)
            .Order(StringComparer.Ordinal));
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)).AsSpan(0, 12));
    }

    private static TimeSpan? ReadMaxTtl(IConfigurationSection credential, ConfigErrorList errors)
    {
        var text = ConfigSections.Value(credential, "maxTtl");
        if (text is null)
        {
            return null;
        }
        if (TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var ttl) && ttl >= TimeSpan.FromSeconds(1))
        {
            return ttl;
        }
        errors.Add(credential.Path + ":maxTtl", "is not a duration of at least one second", "write it as hh:mm:ss, e.g. maxTtl: 00:05:00 for five minutes");
        return null;
    }

    private static double ReadRefreshFraction(IConfigurationSection credential, ConfigErrorList errors)
    {
        var text = ConfigSections.Value(credential, "refreshFraction");
        if (text is null)
        {
            return CredentialBinding.DefaultRefreshFraction;
        }
        if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var fraction) && fraction is >= 0.1 and <= 0.95)
        {
            return fraction;
        }
        errors.Add(credential.Path + ":refreshFraction", "must be a number from 0.1 to 0.95", "write e.g. refreshFraction: 0.8 (refresh after 80% of the lifetime)");
        return CredentialBinding.DefaultRefreshFraction;
    }

    private static PluginConfig Plugin(ConfigDocument document, ConfigErrorList errors, IConfigurationSection section, string entity, TimeProvider time, ILoggerFactory loggers) =>
        new(entity, section, document.Directory, time, loggers, (key, message, fix) => errors.Add(section.Path + ":" + key.Replace('.', ':'), message, fix)) { Offline = document.Offline };
}
