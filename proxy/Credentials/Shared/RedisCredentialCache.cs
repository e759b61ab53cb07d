using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using StackExchange.Redis;

namespace SecretlessProxy.Credentials.Shared;

/// <summary>
/// The Redis layer (L2) of the credential cache, shared by replicas. Values are sealed with AES-256-GCM (never
/// plaintext in Redis) and expire with the credential. Best effort throughout: when Redis is down or slow the
/// proxy carries on with its in-memory cache and the providers, warns once, and the multiplexer reconnects by
/// itself. Also carries revocations between replicas over pub/sub, and a short per-credential lock so replicas
/// fetch a missing credential once.
/// </summary>
public sealed partial class RedisCredentialCache(ILogger<RedisCredentialCache> logger) : IDisposable
{
    private static readonly TimeSpan IndexLifetime = TimeSpan.FromDays(1);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly string _replicaId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
    private readonly Lock _gate = new();
    private volatile Connection? _connection;
    private volatile SharedCacheSettings? _settings;
    private long _failures;

    /// <summary>Raised when another replica revoked a credential (all of it, or one workload's): drop it from memory.</summary>
    public event Action<string, string?>? RevocationReceived;

    /// <summary>Raised when another replica changed the grants kept in Redis: reload them.</summary>
    public event Action? GrantsChanged;

    /// <summary>True when <c>cache.redis</c> is configured.</summary>
    public bool IsConfigured => _settings is not null;

    /// <summary>True when Redis is configured and connected right now.</summary>
    public bool IsAvailable => _connection?.Multiplexer is { IsConnected: true };

    /// <summary>Redis operations that failed or timed out (the proxy carried on without them).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Applies the <c>cache.redis</c> settings of a (re)loaded config: connects, reconnects or disconnects.</summary>
    public void Configure(SharedCacheSettings? settings)
    {
        Connection? retired = null;
        lock (_gate)
        {
            var current = _connection;
            if (settings is not null && current is not null && current.Key == settings.ConnectionKey)
            {
                _settings = settings;
                return;
            }
            retired = current;
            _connection = settings is null ? null : Connect(settings);
            _settings = settings;
        }
        retired?.Dispose();
    }

    private Connection Connect(SharedCacheSettings settings)
    {
        var options = ConfigurationOptions.Parse(settings.Configuration);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        var timeout = (int)settings.OperationTimeout.TotalMilliseconds;
        options.SyncTimeout = timeout;
        options.AsyncTimeout = timeout;
        options.ConnectTimeout = Math.Max(timeout, 1000);
        options.ClientName ??= "secretless-proxy";
        if (settings.Password is not null)
        {
            options.Password = settings.Password;
        }
        var connection = new Connection(settings.ConnectionKey, settings.KeyPrefix);
        Log.Connecting(logger, string.Join(", ", options.EndPoints.Select(e => e.ToString())));
        _ = ConnectAsync(connection, options);
        return connection;
    }

    private async Task ConnectAsync(Connection connection, ConfigurationOptions options)
    {
        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
            multiplexer.ConnectionFailed += (_, e) => Log.Unavailable(logger, e.EndPoint?.ToString() ?? "?", e.FailureType.ToString());
            multiplexer.ConnectionRestored += (_, e) => Log.Restored(logger, e.EndPoint?.ToString() ?? "?");
            if (!connection.Attach(multiplexer))
            {
                await multiplexer.DisposeAsync();
                return;
            }
            if (!multiplexer.IsConnected)
            {
                Log.Unavailable(logger, string.Join(", ", options.EndPoints.Select(e => e.ToString())), "not reachable at start");
            }
            await multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal(connection.Prefix + "revocations"), (_, message) => OnRevocation(message));
            await multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal(connection.Prefix + "grants"), (_, message) =>
            {
                if (message != _replicaId)
                {
                    GrantsChanged?.Invoke();
                }
            });
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // abortConnect=false keeps retrying in the background; this is only the first attempt's report.
            Interlocked.Increment(ref _failures);
            Log.OperationFailed(logger, "connect", ex.GetType().Name);
        }
    }

    /// <summary>The Redis key of one credential (and, for workload-bound ones, one workload). Same on every replica.</summary>
    public string KeyFor(CredentialBinding binding, string? workloadId)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var prefix = _settings?.KeyPrefix ?? "";
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
        var (db, settings) = Database();
        if (db is null || settings is null)
        {
            return null;
        }
        RedisValue value;
        try
        {
            value = await db.StringGetAsync(key);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("read", ex);
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
        var (db, settings) = Database();
        if (db is null || settings is null)
        {
            return null;
        }
        try
        {
            var value = await db.StringGetAsync(GenerationKey(settings, binding.Name));
            return value.IsNull ? 0 : (long)value;
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("read revocation generation", ex);
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
        var (db, settings) = Database();
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
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("write", ex);
            return true;
        }
    }

    /// <summary>
    /// Takes the short fetch lock of a key. Returns a lease to release after storing the new value; null when
    /// another replica holds the lock. When Redis is unavailable returns a no-op lease: the caller fetches.
    /// </summary>
    public async Task<IAsyncDisposable?> TryLockAsync(string key)
    {
        var (db, settings) = Database();
        if (db is null || settings is null)
        {
            return NoLease.Instance;
        }
        var token = _replicaId + ":" + Guid.NewGuid().ToString("N");
        try
        {
            return await db.LockTakeAsync(key + ":lock", token, settings.LockTimeout) ? new Lease(db, key + ":lock", token, this) : null;
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("lock", ex);
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
        var settings = _settings;
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
            var (db, _) = Database();
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
            catch (Exception ex) when (IsRedisFailure(ex))
            {
                Failed("lock", ex);
                return null;
            }
        }
        return null;
    }

    /// <summary>Deletes cached values (all of a credential when <paramref name="keys"/> is null) and tells the other replicas.</summary>
    public async Task RevokeAsync(CredentialBinding binding, IReadOnlyList<string>? keys, string? workloadId)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var (db, settings) = Database();
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
            var message = JsonSerializer.Serialize(new RevocationMessage(_replicaId, binding.Name, workloadId), SharedJson.Default.RevocationMessage);
            await db.Multiplexer.GetSubscriber().PublishAsync(RedisChannel.Literal(settings.KeyPrefix + "revocations"), message);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("revoke", ex);
            Log.RevokeNotShared(logger, binding.Name);
        }
    }

    /// <summary>The grants kept in Redis (field, stored value). Throws <see cref="IOException"/> when Redis is unavailable.</summary>
    public async Task<IReadOnlyList<KeyValuePair<string, string>>> ReadGrantsAsync()
    {
        var (db, settings) = Database();
        if (db is null || settings is null)
        {
            throw new IOException("Redis is not connected");
        }
        try
        {
            var entries = await db.HashGetAllAsync(settings.KeyPrefix + "grants");
            return [.. entries.Select(e => KeyValuePair.Create(e.Name.ToString(), e.Value.ToString()))];
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("read grants", ex);
            throw new IOException($"Redis failed ({ex.GetType().Name})", ex);
        }
    }

    /// <summary>
    /// Adds and removes grants (by id) in one transaction and tells the other replicas to reload. Throws
    /// <see cref="IOException"/> when Redis is unavailable.
    /// </summary>
    public async Task ChangeGrantsAsync(IReadOnlyList<KeyValuePair<string, string>> added, IReadOnlyList<string> removedIds)
    {
        ArgumentNullException.ThrowIfNull(added);
        ArgumentNullException.ThrowIfNull(removedIds);
        var (db, settings) = Database();
        if (db is null || settings is null)
        {
            throw new IOException("Redis is not connected");
        }
        try
        {
            var key = settings.KeyPrefix + "grants";
            var transaction = db.CreateTransaction();
            var writes = new List<Task>();
            if (added.Count > 0)
            {
                writes.Add(transaction.HashSetAsync(key, [.. added.Select(a => new HashEntry(a.Key, a.Value))]));
            }
            if (removedIds.Count > 0)
            {
                writes.Add(transaction.HashDeleteAsync(key, [.. removedIds.Select(id => (RedisValue)id)]));
            }
            if (!await transaction.ExecuteAsync())
            {
                throw new IOException("Redis did not apply the grant change");
            }
            await Task.WhenAll(writes);
            await db.Multiplexer.GetSubscriber().PublishAsync(RedisChannel.Literal(settings.KeyPrefix + "grants"), _replicaId);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            Failed("write grants", ex);
            throw new IOException($"Redis failed ({ex.GetType().Name})", ex);
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
        if (revocation is null || revocation.Origin == _replicaId || revocation.Credential is null)
        {
            return;
        }
        Log.RevocationReceived(logger, revocation.Credential, revocation.Workload ?? "(all)");
        RevocationReceived?.Invoke(revocation.Credential, revocation.Workload);
    }

    private static string IndexKey(SharedCacheSettings settings, string credential) => $"{settings.KeyPrefix}{{{Tag(credential)}}}:index";

    private static string GenerationKey(SharedCacheSettings settings, string credential) => $"{settings.KeyPrefix}{{{Tag(credential)}}}:revoked";

    private (IDatabase? Db, SharedCacheSettings? Settings) Database()
    {
        var multiplexer = _connection?.Multiplexer;
        return multiplexer is { IsConnected: true } ? (multiplexer.GetDatabase(), _settings) : (null, null);
    }

    private static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException;

    private void Failed(string operation, Exception ex)
    {
        Interlocked.Increment(ref _failures);
        Log.OperationFailed(logger, operation, ex.GetType().Name);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _connection?.Dispose();
            _connection = null;
        }
    }

    private sealed class Connection(string key, string prefix) : IDisposable
    {
        private volatile ConnectionMultiplexer? _multiplexer;
        private volatile bool _disposed;

        public string Key { get; } = key;

        public string Prefix { get; } = prefix;

        public ConnectionMultiplexer? Multiplexer => _multiplexer;

        public bool Attach(ConnectionMultiplexer multiplexer)
        {
            _multiplexer = multiplexer;
            return !_disposed;
        }

        public void Dispose()
        {
            _disposed = true;
            var multiplexer = _multiplexer;
            _multiplexer = null;
            // Requests may still be using it for a moment: close in the background.
            _ = Task.Run(async () =>
            {
                if (multiplexer is not null)
                {
                    await Task.Delay(TimeSpan.FromSeconds(2));
                    await multiplexer.DisposeAsync();
                }
            });
        }
    }

    private sealed class Lease(IDatabase db, string key, string token, RedisCredentialCache owner) : IAsyncDisposable
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
            catch (Exception ex) when (IsRedisFailure(ex))
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
        [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Redis credential cache: connecting to {Endpoints}")]
        public static partial void Connecting(ILogger logger, string endpoints);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Redis credential cache unavailable at {Endpoint} ({Failure}): serving from the in-memory cache and the providers; reconnecting in the background")]
        public static partial void Unavailable(ILogger logger, string endpoint, string failure);

        [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "Redis credential cache reconnected to {Endpoint}")]
        public static partial void Restored(ILogger logger, string endpoint);

        [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "Redis credential cache: {Operation} failed ({Error}); carrying on without it")]
        public static partial void OperationFailed(ILogger logger, string operation, string error);

        [LoggerMessage(EventId = 3105, Level = LogLevel.Warning, Message = "Redis credential cache: a cached value of {Credential} cannot be opened (tampered with, or sealed with a key not in encryptionKey/previousEncryptionKeys); fetching a new one")]
        public static partial void Unreadable(ILogger logger, string credential);

        [LoggerMessage(EventId = 3106, Level = LogLevel.Information, Message = "Credential {Credential} revoked by another replica (workload {Workload})")]
        public static partial void RevocationReceived(ILogger logger, string credential, string workload);

        [LoggerMessage(EventId = 3107, Level = LogLevel.Warning, Message = "Credential {Credential} revoked on this replica only: Redis is unavailable, so other replicas keep their cached copy until it expires")]
        public static partial void RevokeNotShared(ILogger logger, string credential);
    }
}

internal sealed record RevocationMessage(string Origin, string? Credential, string? Workload);

[System.Text.Json.Serialization.JsonSerializable(typeof(RevocationMessage))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class SharedJson : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>A credential as kept in Redis: the secret parts and the instants every replica computes its own refresh from.</summary>
public sealed record SharedEntry(Credential Credential, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt)
{
    /// <summary>The plaintext to seal (UTF-8 JSON). The caller zeroes it after sealing.</summary>
    public byte[] Write()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("secret", Credential.Secret.Reveal());
            if (Credential.Username is not null)
            {
                writer.WriteString("username", Credential.Username);
            }
            if (Credential.SessionToken is not null)
            {
                writer.WriteString("sessionToken", Credential.SessionToken.Reveal());
            }
            writer.WriteNumber("issuedAt", IssuedAt.ToUnixTimeMilliseconds());
            writer.WriteNumber("expiresAt", ExpiresAt.ToUnixTimeMilliseconds());
            if (Credential.IsStatic)
            {
                writer.WriteBoolean("static", true);
            }
            writer.WriteEndObject();
        }
        var result = buffer.WrittenSpan.ToArray();
        buffer.Clear();
        return result;
    }

    /// <summary>Reads what <see cref="Write"/> wrote; null when it is not such a value.</summary>
    public static SharedEntry? Read(byte[] plaintext, string credentialName)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        try
        {
            using var json = JsonDocument.Parse(plaintext);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("secret", out var secret) || secret.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("issuedAt", out var issued) || !issued.TryGetInt64(out var issuedMs)
                || !root.TryGetProperty("expiresAt", out var expires) || !expires.TryGetInt64(out var expiresMs))
            {
                return null;
            }
            var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(expiresMs);
            var credential = new Credential(credentialName, new SecretValue(secret.GetString()!))
            {
                Username = root.TryGetProperty("username", out var user) && user.ValueKind == JsonValueKind.String ? user.GetString() : null,
                ExpiresAt = expiresAt,
                IsStatic = root.TryGetProperty("static", out var isStatic) && isStatic.ValueKind == JsonValueKind.True,
                SessionToken = root.TryGetProperty("sessionToken", out var token) && token.ValueKind == JsonValueKind.String ? new SecretValue(token.GetString()!) : null,
            };
            return new SharedEntry(credential, DateTimeOffset.FromUnixTimeMilliseconds(issuedMs), expiresAt);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException)
        {
            return null;
        }
    }
}
