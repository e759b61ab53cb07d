using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Redis;
using StackExchange.Redis;

namespace SecretlessProxy.Inventory;

/// <summary>
/// Keyed fingerprints of secret values (HMAC-SHA256 with a per-deployment key), so two credentials that reach the same
/// value can be found without keeping or comparing the value. The key comes from <c>inventory.fingerprintKey</c> (a file,
/// created with mode 0600 when missing), else from Redis (generated once, stored sealed with the cache key ring, so every
/// replica uses the same one), else it is generated for this process. Neither the key nor a value is ever shown; the
/// fingerprints themselves stay inside the proxy and Redis (reports say which credentials share a value, not the fingerprint).
/// </summary>
public sealed partial class SecretFingerprints(ILogger<SecretFingerprints> logger)
{
    internal const string RedisKeyName = "inventory:fingerprint-key";

    private volatile Holder _key = new(RandomNumberGenerator.GetBytes(32), "memory");

    /// <summary>Where the key came from: <c>file</c>, <c>redis</c> or <c>memory</c> (this process only).</summary>
    public string Source => _key.Source;

    /// <summary>An id of the key (a hash prefix: reveals nothing of it); fingerprints compare only under one id.</summary>
    public string KeyId => _key.Id;

    /// <summary>The fingerprint of <paramref name="secret"/>: the first 16 bytes of HMAC-SHA256(key, value), hex.</summary>
    public string Of(SecretValue secret)
    {
        ArgumentNullException.ThrowIfNull(secret);
        var key = _key;
        var value = secret.Reveal();
        var bytes = Encoding.UTF8.GetBytes(value);
        try
        {
            return Convert.ToHexStringLower(HMACSHA256.HashData(key.Key, bytes).AsSpan(0, 16));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Takes the key from the settings' file, or from Redis, or keeps the process's own.</summary>
    public async Task ConfigureAsync(InventorySettings settings, RedisConnection redis)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(redis);
        if (settings.FingerprintKeyFile is { } file)
        {
            if (_key.Source == "file:" + file)
            {
                return;
            }
            try
            {
                _key = new Holder(ReadOrCreate(file), "file:" + file);
                Log.KeyFrom(logger, "file");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                Log.KeyUnavailable(logger, "file", ex.GetType().Name);
            }
            return;
        }
        if (redis.IsConfigured)
        {
            var key = await FromRedisAsync(redis);
            if (key is not null && CacheKeyRing.IdOf(key) != _key.Id)
            {
                _key = new Holder(key, "redis");
                Log.KeyFrom(logger, "redis");
            }
        }
    }

    /// <summary>The key in Redis (sealed with the cache key ring, bound to its Redis key), created by the first replica; null when Redis is not reachable.</summary>
    internal static async Task<byte[]?> FromRedisAsync(RedisConnection redis)
    {
        // The connection is made in the background: give it a moment at start.
        for (var attempt = 0; attempt < 50 && redis.Database().Db is null; attempt++)
        {
            await Task.Delay(100);
        }
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            return null;
        }
        try
        {
            return await FromRedisAsync(db, settings);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("fingerprint key", ex);
            return null;
        }
    }

    internal static async Task<byte[]?> FromRedisAsync(IDatabase db, RedisSettings settings)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(settings);
        var name = settings.KeyPrefix + RedisKeyName;
        var stored = await db.StringGetAsync(name);
        if (stored.IsNullOrEmpty)
        {
            // The first replica's key wins: SET NX, then whatever is there.
            var fresh = RandomNumberGenerator.GetBytes(32);
            var result = await db.ScriptEvaluateAsync("redis.call('SET', KEYS[1], ARGV[1], 'NX') return redis.call('GET', KEYS[1])", [name], [settings.Keys.Seal(fresh, name)]);
            CryptographicOperations.ZeroMemory(fresh);
            stored = (RedisValue)result;
        }
        return stored.IsNullOrEmpty ? null : settings.Keys.Open(stored.ToString(), name);
    }

    /// <summary>Reads the key file, or creates it (32 random bytes, base64, mode 0600) when it does not exist.</summary>
    internal static byte[] ReadOrCreate(string file)
    {
        if (!File.Exists(file))
        {
            var fresh = RandomNumberGenerator.GetBytes(32);
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }
                using var stream = new FileStream(file, options);
                using var writer = new StreamWriter(stream);
                writer.WriteLine(Convert.ToBase64String(fresh));
                return fresh;
            }
            catch (IOException) when (File.Exists(file))
            {
                // Another process created it first: read theirs.
            }
        }
        return CacheKeyRing.ParseKeyFile(File.ReadAllText(file), out var problem) ?? throw new InvalidDataException(problem);
    }

    /// <summary>Uses <paramref name="key"/> (the offline CLI, with the deployment's key).</summary>
    internal void Use(byte[] key, string source) => _key = new Holder(key, source);

    private sealed class Holder(byte[] key, string source)
    {
        public byte[] Key { get; } = key;

        public string Source { get; } = source;

        public string Id { get; } = CacheKeyRing.IdOf(key);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 8101, Level = LogLevel.Information, Message = "Inventory: secret fingerprint key from {Source}")]
        public static partial void KeyFrom(ILogger logger, string source);

        [LoggerMessage(EventId = 8102, Level = LogLevel.Warning, Message = "Inventory: the secret fingerprint key could not be read from {Source} ({ExceptionType}); duplicated values are compared with a key of this process only")]
        public static partial void KeyUnavailable(ILogger logger, string source, string exceptionType);
    }
}
