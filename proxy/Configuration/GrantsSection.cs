using SecretlessProxy.Grants;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>grants</c>: the grant store and the longest window a grant may have. The store is Redis when
/// <c>cache.redis</c> is configured (replicas share grants), otherwise a local file; <c>store</c> chooses explicitly.
/// </summary>
internal static class GrantsSection
{
    public const string DefaultFileName = "grants.json";

    public static GrantSettings Compile(ConfigDocument document, ConfigErrorList errors, bool redisConfigured)
    {
        var kind = redisConfigured ? GrantStoreKind.Redis : GrantStoreKind.File;
        var section = document.Root.GetSection("grants");
        var path = Path.Combine(document.Directory, DefaultFileName);
        var maxDuration = GrantSettings.DefaultMaxDuration;
        if (!section.Exists())
        {
            return new GrantSettings(path, maxDuration, kind);
        }
        ConfigSections.CheckKnownKeys(section, ["store", "path", "maxDuration"], errors, "grants");
        if (ConfigSections.Value(section, "store") is { } store)
        {
            if (store.Equals("file", StringComparison.OrdinalIgnoreCase))
            {
                kind = GrantStoreKind.File;
            }
            else if (store.Equals("redis", StringComparison.OrdinalIgnoreCase))
            {
                kind = GrantStoreKind.Redis;
                if (!redisConfigured)
                {
                    errors.Add(section.Path + ":store", "is redis, but cache.redis is not configured", "configure cache.redis (grants use the same Redis), or use store: file");
                }
            }
            else
            {
                errors.Add(section.Path + ":store", $"'{store}' is not a grant store", "use store: redis (the default when cache.redis is set; replicas share grants) or store: file (the default otherwise), with path naming the file");
            }
        }
        if (ConfigSections.Value(section, "path") is { } configured)
        {
            path = Path.GetFullPath(configured, document.Directory);
            if (!document.Offline && !Directory.Exists(Path.GetDirectoryName(path)))
            {
                errors.Add(section.Path + ":path", $"the folder of '{path}' does not exist", "create the folder or choose another path (the proxy must be able to write there)");
            }
        }
        if (ConfigSections.Value(section, "maxDuration") is { } text)
        {
            if (TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var parsed) && parsed >= TimeSpan.FromSeconds(1))
            {
                maxDuration = parsed;
            }
            else
            {
                errors.Add(section.Path + ":maxDuration", "is not a duration of at least one second", "write it as d.hh:mm:ss or hh:mm:ss, e.g. maxDuration: 08:00:00");
            }
        }
        return new GrantSettings(path, maxDuration, kind);
    }
}
