using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Redis;
using StackExchange.Redis;

namespace SecretlessProxy.Credentials.Redis;

/// <summary>
/// The second layer (L2) of the credential cache, in the Redis replicas share (<see cref="RedisConnection"/>).
/// Values are sealed with AES-256-GCM (never plaintext in Redis) and expire with the credential. Best effort: when
/// Redis is down or slow the proxy carries on with its in-memory cache and the providers. Also carries revocations
/// between replicas over pub/sub (with a revocation counter that keeps a fetch in flight from writing after one),
/// and a short per-credential lock so replicas fetch a missing credential once.
/// </summary>
public sealed partial class SharedCredentialStore
{
    private readonly RedisConnection redis;
    private readonly ILogger logger;

    public SharedCredentialStore(RedisConnection redis, ILogger<SharedCredentialStore> logger)
    {
        this.redis = redis;
        this.logger = logger;
        redis.Subscribe("revocations", OnRevocation);
    }

    private static readonly TimeSpan IndexLifetime = TimeSpan.FromDays(1);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Raised when another replica revoked a credential (all of it, or one workload's): drop it from memory.</summary>
    public event Action<string, string?>? RevocationReceived;

    /// <summary>True when <c>cache.redis</c> is configured.</summary>
    public bool IsConfigured => redis.IsConfigured;

    /// <summary>True when Redis is configured and connected right now.</summary>
    public bool IsAvailable => redis.IsAvailable;

    /// <summary>The Redis key of one credential (and, for workload-bound ones, one workload). Same on every replica.</summary>
    public string KeyFor(CredentialBinding binding, string? workloadId)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var prefix = redis.Settings?.KeyPrefix ?? "";
        // The braces are a Redis Cluster hash tag: all keys of one credential live in one slot.
        var workload = binding.Provider.IsWorkloadBound && workloadId is not null
            ? Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(workloadId)).AsSpan(0, 16))
            : "shared";
        return $"{prefix}{{{Tag(binding.Name)}}}:{binding.Fingerprint}:{workload}";
    }

    private static string Tag(string name) => name.Replace('{', '_').Replace('}', '_');

    /// <summary>Reads and opens a cached credential; null on a miss, an unreadable value, or when Redis is unavailable.</summary>
    public async Task<SharedEntry?> GetAsync(string key, string credentialName)
    {
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            return null;
        }
        RedisValue value;
        try
        {
            value = await db.StringGetAsync(key);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("read", ex);
            return null;
        }
        if (value.IsNullOrEmpty)
        {
            return null;
        }
        var plaintext = settings.Keys.Open(value.ToString(), key);
        if (plaintext is null)
        {
            Log.Unreadable(logger, credentialName);
            return null;
        }
        try
        {
            return SharedEntry.Read(plaintext, credentialName);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Seals and stores a credential until it expires. Best effort.</summary>
    /// <summary>
    /// The credential's revocation generation in Redis (0 when never revoked; null when Redis cannot be read). Read
    /// before a fetch and handed to <see cref="SetAsync"/>: a revocation on any replica while the fetch ran bumps
    /// it, and the fetched value is then not written.
    /// </summary>
    public async Task<long?> RevocationGenerationAsync(CredentialBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            return null;
        }
        try
        {
            var value = await db.StringGetAsync(GenerationKey(settings, binding.Name));
            return value.IsNull ? 0 : (long)value;
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("read revocation generation", ex);
            return null;
        }
    }

    // KEYS: value, index, generation. ARGV: sealed value, ttl ms, index ttl ms, expected generation.
    private const string WriteUnlessRevokedScript = """
        local g = redis.call('get', KEYS[3])
        if (g or '0') ~= ARGV[4] then return 0 end
        redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('sadd', KEYS[2], KEYS[1])
        redis.call('pexpire', KEYS[2], ARGV[3])
        return 1
        """;

    /// <summary>
    /// Stores a fetched credential, unless the credential was revoked (on any replica) since
    /// <paramref name="generation"/> was read: a token fetched before a revocation never reaches Redis after it.
    /// Returns false when the write was refused for that reason.
    /// </summary>
    public async Task<bool> SetAsync(string key, CredentialBinding binding, SharedEntry entry, DateTimeOffset now, long generation)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(entry);
        var (db, settings) = redis.Database();
        var ttl = entry.ExpiresAt - now;
        if (db is null || settings is null || ttl <= TimeSpan.Zero)
        {
            return true;
        }
        var plaintext = entry.Write();
        string sealedValue;
        try
        {
            sealedValue = settings.Keys.Seal(plaintext, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
        try
        {
            var written = await db.ScriptEvaluateAsync(WriteUnlessRevokedScript,
                [key, IndexKey(settings, binding.Name), GenerationKey(settings, binding.Name)],
                [sealedValue, (long)Math.Ceiling(ttl.TotalMilliseconds), (long)IndexLifetime.TotalMilliseconds, generation.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            return (long)written == 1;
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("write", ex);
            return true;
        }
    }

    /// <summary>
    /// Takes the short fetch lock of a key. Returns a lease to release after storing the new value; null when
    /// another replica holds the lock. When Redis is unavailable returns a no-op lease: the caller fetches.
    /// </summary>
    public async Task<IAsyncDisposable?> TryLockAsync(string key)
    {
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            return NoLease.Instance;
        }
        var token = redis.ReplicaId + ":" + Guid.NewGuid().ToString("N");
        try
        {
            return await db.LockTakeAsync(key + ":lock", token, settings.LockTimeout) ? new Lease(db, key + ":lock", token, redis) : null;
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("lock", ex);
            return NoLease.Instance;
        }
    }

    /// <summary>
    /// Waits (up to the lock timeout) for another replica's fetch: returns its entry when one newer than
    /// <paramref name="issuedAfter"/> appears, or null when the lock is released or expires without one.
    /// </summary>
    public async Task<SharedEntry?> WaitForOtherFetchAsync(string key, string credentialName, DateTimeOffset? issuedAfter, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        var settings = redis.Settings;
        if (settings is null)
        {
            return null;
        }
        var deadline = time.GetUtcNow() + settings.LockTimeout;
        while (time.GetUtcNow() < deadline)
        {
            await Task.Delay(PollInterval, time);
            var entry = await GetAsync(key, credentialName);
            if (entry is not null && (issuedAfter is null || entry.IssuedAt > issuedAfter))
            {
                return entry;
            }
            var (db, _) = redis.Database();
            if (db is null)
            {
                return null;
            }
            try
            {
                if (!(await db.LockQueryAsync(key + ":lock")).HasValue)
                {
                    // Released without a new value (the other fetch failed): one last look, then fetch ourselves.
                    entry = await GetAsync(key, credentialName);
                    return entry is not null && (issuedAfter is null || entry.IssuedAt > issuedAfter) ? entry : null;
                }
            }
            catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
            {
                redis.Failed("lock", ex);
                return null;
            }
        }
        return null;
    }

    /// <summary>Deletes cached values (all of a credential when <paramref name="keys"/> is null) and tells the other replicas.</summary>
    public async Task RevokeAsync(CredentialBinding binding, IReadOnlyList<string>? keys, string? workloadId)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            if (IsConfigured)
            {
                Log.RevokeNotShared(logger, binding.Name);
            }
            return;
        }
        try
        {
            // First: a fetch that started before this point must not write its value after the keys are gone.
            await db.StringIncrementAsync(GenerationKey(settings, binding.Name));
            if (keys is null)
            {
                var index = IndexKey(settings, binding.Name);
                var members = await db.SetMembersAsync(index);
                var all = members.Select(m => (RedisKey)m.ToString()).Append(index).ToArray();
                await db.KeyDeleteAsync(all);
            }
            else if (keys.Count > 0)
            {
                await db.KeyDeleteAsync(keys.Select(k => (RedisKey)k).ToArray());
            }
            var message = JsonSerializer.Serialize(new RevocationMessage(redis.ReplicaId, binding.Name, workloadId), SharedJson.Default.RevocationMessage);
            await redis.PublishAsync(db, "revocations", message);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("revoke", ex);
            Log.RevokeNotShared(logger, binding.Name);
        }
    }

    private void OnRevocation(RedisValue message)
    {
        RevocationMessage? revocation;
        try
        {
            revocation = JsonSerializer.Deserialize(message.ToString(), SharedJson.Default.RevocationMessage);
        }
        catch (JsonException)
        {
            return;
        }
        if (revocation is null || revocation.Origin == redis.ReplicaId || revocation.Credential is null)
        {
            return;
        }
        Log.RevocationReceived(logger, revocation.Credential, revocation.Workload ?? "(all)");
        RevocationReceived?.Invoke(revocation.Credential, revocation.Workload);
    }

    private static string IndexKey(RedisSettings settings, string credential) => $"{settings.KeyPrefix}{{{Tag(credential)}}}:index";

    private static string GenerationKey(RedisSettings settings, string credential) => $"{settings.KeyPrefix}{{{Tag(credential)}}}:revoked";

    private sealed class Lease(IDatabase db, string key, string token, RedisConnection owner) : IAsyncDisposable
    {
        private const string ReleaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

        public async ValueTask DisposeAsync()
        {
            try
            {
                // Compare-and-delete in one script: StackExchange.Redis's LockRelease runs a WATCH/MULTI transaction
                // that was seen to return false and leave the lock in place, making other replicas wait it out.
                await db.ScriptEvaluateAsync(ReleaseScript, [key], [token]);
            }
            catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
            {
                // It expires by itself after the lock timeout.
                owner.Failed("unlock", ex);
            }
        }
    }

    private sealed class NoLease : IAsyncDisposable
    {
        public static readonly NoLease Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Redis credential cache: a cached value of {Credential} cannot be opened (tampered with, or sealed with a key not in encryptionKey/previousEncryptionKeys); fetching a new one")]
        public static partial void Unreadable(ILogger logger, string credential);

        [LoggerMessage(EventId = 3106, Level = LogLevel.Information, Message = "Credential {Credential} revoked by another replica (workload {Workload})")]
        public static partial void RevocationReceived(ILogger logger, string credential, string workload);

        [LoggerMessage(EventId = 3107, Level = LogLevel.Warning, Message = "Credential {Credential} revoked on this replica only: Redis is unavailable, so other replicas keep their cached copy until it expires")]
        public static partial void RevokeNotShared(ILogger logger, string credential);
    }
}
