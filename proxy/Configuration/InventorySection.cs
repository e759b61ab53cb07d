using System.Globalization;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>inventory</c> (<see cref="InventorySettings"/>).</summary>
internal static class InventorySection
{
    public static InventorySettings Compile(ConfigDocument document, ConfigErrorList errors)
    {
        if (ConfigSections.Optional(document, "inventory", ["fingerprintKey", "usageFlushInterval"], errors) is not { } section)
        {
            return InventorySettings.Default;
        }
        string? keyFile = null;
        if (ConfigSections.Value(section, "fingerprintKey") is { } file)
        {
            keyFile = Path.GetFullPath(file, document.Directory);
            if (document.Offline)
            {
                // The key file and its folder exist only at run time.
            }
            else if (File.Exists(keyFile))
            {
                try
                {
                    if (Redis.CacheKeyRing.ParseKeyFile(File.ReadAllText(keyFile), out var problem) is null)
                    {
                        errors.Add(section.Path + ":fingerprintKey", problem!, "create it with 'openssl rand -base64 32 > fingerprint.key', or name a file that does not exist yet (the proxy creates it)");
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    errors.Add(section.Path + ":fingerprintKey", $"cannot be read ({ex.GetType().Name})", "make the file readable by the proxy");
                }
            }
            else if (!Directory.Exists(Path.GetDirectoryName(keyFile)))
            {
                errors.Add(section.Path + ":fingerprintKey", "names a file in a folder that does not exist", "create the folder; the proxy writes a new key there (mode 0600) when the file is missing");
            }
        }
        var flush = InventorySettings.DefaultFlushInterval;
        if (ConfigSections.Value(section, "usageFlushInterval") is { } text)
        {
            var parsed = Durations.Parse(text) ?? (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) ? span : null);
            if (parsed is not { } value || value < TimeSpan.FromMilliseconds(100) || value > TimeSpan.FromHours(1))
            {
                errors.Add(section.Path + ":usageFlushInterval", "is not a duration from 100 ms to 1 hour", "write e.g. usageFlushInterval: 10s");
            }
            else
            {
                flush = value;
            }
        }
        return new InventorySettings(keyFile, flush);
    }
}
