using System.Globalization;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Redis;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>cache</c>: whether the in-memory layer is on (default) and the optional Redis layer with its
/// encryption keys. Key and password files are watched like certificates.
/// </summary>
internal static class CacheSection
{
    private static readonly string[] RedisKeys = ["configuration", "passwordFile", "keyPrefix", "encryptionKey", "previousEncryptionKeys", "lockTimeout", "operationTimeout"];

    public static CacheSettings Compile(ConfigDocument document, ConfigErrorList errors, List<string> watched)
    {
        var section = document.Root.GetSection("cache");
        if (!section.Exists())
        {
            return CacheSettings.MemoryOnly;
        }
        ConfigSections.CheckKnownKeys(section, ["memory", "redis"], errors, "cache");
        var memory = true;
        if (ConfigSections.Value(section, "memory") is { } memoryText && !bool.TryParse(memoryText, out memory))
        {
            errors.Add(section.Path + ":memory", "must be true or false", "leave it out (true): the in-memory layer serves cache hits with no I/O; false sends every request to Redis (for measurements)");
            memory = true;
        }
        var redis = section.GetSection("redis");
        if (!redis.Exists())
        {
            if (!memory)
            {
                errors.Add(section.Path + ":memory", "cannot be false without cache.redis", "configure cache.redis, or remove memory: false (with no cache at all every request would fetch a new token)");
            }
            return CacheSettings.MemoryOnly;
        }
        ConfigSections.CheckKnownKeys(redis, RedisKeys, errors, "cache.redis");
        var configuration = ConfigSections.Value(redis, "configuration");
        if (configuration is null)
        {
            errors.Add(redis.Path + ":configuration", "is required", "give a StackExchange.Redis connection string, e.g. configuration: \"redis-1:6379,redis-2:6379,ssl=true\" (Sentinel: serviceName=…)");
        }
        else if (!TryParseConfiguration(configuration, out var problem))
        {
            // The value may hold a password: never echo it.
            errors.Add(redis.Path + ":configuration", $"is not a valid Redis connection string ({problem})", "write host:port[,host:port][,option=value…], e.g. 127.0.0.1:6379,ssl=false", showValue: false);
        }
        else if (configuration.Contains("password=", StringComparison.OrdinalIgnoreCase))
        {
            errors.Warn(redis.Path + ":configuration", "holds a password in the config file", "move the password to a file and point passwordFile at it", showValue: false);
        }

        string? password = null;
        if (ConfigSections.Value(redis, "passwordFile") is { } passwordFile)
        {
            password = ReadFile(document, errors, redis.Path + ":passwordFile", passwordFile, watched)?.Trim();
            if (password is { Length: 0 })
            {
                errors.Add(redis.Path + ":passwordFile", "names an empty file", "write the Redis password (or ACL user's password) into the file");
            }
        }

        var keys = new List<byte[]>();
        var current = ConfigSections.Value(redis, "encryptionKey");
        if (current is null)
        {
            errors.Add(redis.Path + ":encryptionKey", "is required", "values in Redis are always encrypted: create a key with 'openssl rand -base64 32 > cache.key' and set encryptionKey: cache.key");
        }
        else if (ReadKey(document, errors, redis.Path + ":encryptionKey", current, watched) is { } key)
        {
            keys.Add(key);
        }
        var previous = redis.GetSection("previousEncryptionKeys");
        foreach (var item in ConfigSections.Items(previous))
        {
            if (item.Value is { Length: > 0 } file && ReadKey(document, errors, item.Path, file, watched) is { } old)
            {
                keys.Add(old);
            }
        }

        var prefix = ConfigSections.Value(redis, "keyPrefix") ?? "secretless:";
        if (prefix.Any(c => char.IsWhiteSpace(c) || c is '{' or '}'))
        {
            errors.Add(redis.Path + ":keyPrefix", "must not hold spaces or braces", "use letters, digits, ':' or '-', e.g. keyPrefix: \"payments-proxy:\"");
        }
        var lockTimeout = Duration(redis, "lockTimeout", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1), errors);
        var operationTimeout = Duration(redis, "operationTimeout", TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(30), errors);

        if (document.Offline && keys.Count == 0 && ConfigSections.Value(redis, "encryptionKey") is not null)
        {
            // Offline the key file is not there; nothing is encrypted by a command that never starts, so a throwaway key stands in.
            keys.Add(System.Security.Cryptography.RandomNumberGenerator.GetBytes(CacheKeyRing.KeySize));
        }
        if (configuration is null || keys.Count == 0 || errors.HasErrors)
        {
            return CacheSettings.MemoryOnly;
        }
        return new CacheSettings(memory, new RedisSettings
        {
            Configuration = configuration,
            Password = password,
            KeyPrefix = prefix,
            Keys = new CacheKeyRing(keys),
            LockTimeout = lockTimeout,
            OperationTimeout = operationTimeout,
        });
    }

    private static bool TryParseConfiguration(string configuration, out string? problem)
    {
        try
        {
            var options = StackExchange.Redis.ConfigurationOptions.Parse(configuration);
            problem = options.EndPoints.Count == 0 && options.ServiceName is null ? "it names no host" : null;
        }
        catch (ArgumentException ex)
        {
            problem = ex.Message.Split('\n')[0].Contains('=', StringComparison.Ordinal) ? "an option is malformed" : "it cannot be parsed";
        }
        return problem is null;
    }

    private static byte[]? ReadKey(ConfigDocument document, ConfigErrorList errors, string key, string file, List<string> watched)
    {
        var text = ReadFile(document, errors, key, file, watched);
        if (text is null)
        {
            return null;
        }
        var bytes = CacheKeyRing.ParseKeyFile(text, out var problem);
        if (bytes is null)
        {
            errors.Add(key, $"the file {problem}", "create it with 'openssl rand -base64 32 > FILE'", showValue: true);
        }
        return bytes;
    }

    private static string? ReadFile(ConfigDocument document, ConfigErrorList errors, string key, string file, List<string> watched)
    {
        var path = Path.GetFullPath(file, document.Directory);
        watched.Add(path);
        if (document.Offline && !File.Exists(path))
        {
            // Mounted at run time: offline, a missing file is no error (one that is there is still read, e.g. for inventory --reconcile).
            return null;
        }
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            errors.Add(key, ex is FileNotFoundException or DirectoryNotFoundException ? $"the file '{path}' does not exist" : $"the file '{path}' cannot be read ({ex.GetType().Name})",
                "point it at a readable file (relative paths start at the config file's folder)");
            return null;
        }
    }

    private static TimeSpan Duration(IConfigurationSection section, string key, TimeSpan fallback, TimeSpan min, TimeSpan max, ConfigErrorList errors)
    {
        var text = ConfigSections.Value(section, key);
        if (text is null)
        {
            return fallback;
        }
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }
        errors.Add(section.Path + ":" + key, $"is not a duration from {min} to {max}", $"write it as hh:mm:ss.fff, e.g. {key}: {fallback:c}");
        return fallback;
    }
}
