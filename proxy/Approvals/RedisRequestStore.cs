using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using SecretlessProxy.Redis;
using StackExchange.Redis;

namespace SecretlessProxy.Approvals;

/// <summary>
/// Grant requests in the Redis of <c>cache.redis</c>, shared by replicas (used when grants are): a hash
/// <c>PREFIXgrant-requests</c>, one field per request, each sealed with the cache's key ring and bound to its field,
/// so a request is made, listed and answered on any replica. A decision is taken under a short lock per request
/// (<c>SET NX</c> with a token, released only by its holder), so two approvers on two replicas cannot both answer one
/// request. Each change is announced over pub/sub and the other replicas read the hash again.
/// </summary>
internal sealed class RedisRequestStore(RedisConnection redis, string keyPrefix, CacheKeyRing keys)
{
    /// <summary>How long a decision lock lives if its holder dies before it lets go.</summary>
    internal static readonly TimeSpan LockLifetime = TimeSpan.FromSeconds(15);

    private const string Channel = "grant-requests";

    private const string ReleaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

    private string Key => keyPrefix + "grant-requests";

    public string Location => $"redis key {Key}";

    private string Context(string id) => $"{Key}:{id}";

    /// <summary>Every request that opens with the cache's keys (others are skipped). Throws <see cref="IOException"/> when Redis is unavailable.</summary>
    public async Task<IReadOnlyList<ApprovalRequest>> LoadAsync()
    {
        var db = Db();
        HashEntry[] entries;
        try
        {
            entries = await db.HashGetAllAsync(Key);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            throw Failed("read grant requests", ex);
        }
        var requests = new List<ApprovalRequest>(entries.Length);
        foreach (var entry in entries)
        {
            if (Open(entry.Name.ToString(), entry.Value) is { } request)
            {
                requests.Add(request);
            }
        }
        return requests;
    }

    /// <summary>One request as stored now; null when it is not there (or does not open). Throws <see cref="IOException"/>.</summary>
    public async Task<ApprovalRequest?> GetAsync(string id)
    {
        var db = Db();
        try
        {
            return Open(id, await db.HashGetAsync(Key, id));
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            throw Failed("read a grant request", ex);
        }
    }

    /// <summary>Writes a request (new or decided) and tells the other replicas. Throws <see cref="IOException"/>.</summary>
    public async Task PutAsync(ApprovalRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var db = Db();
        try
        {
            await db.HashSetAsync(Key, request.Id, keys.Seal(JsonSerializer.SerializeToUtf8Bytes(request, ApprovalJson.Default.ApprovalRequest), Context(request.Id)));
            await redis.PublishAsync(db, Channel, redis.ReplicaId);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            throw Failed("write a grant request", ex);
        }
    }

    /// <summary>Forgets requests (closed ones past their keeping time). Throws <see cref="IOException"/>.</summary>
    public async Task RemoveAsync(IReadOnlyList<string> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count == 0)
        {
            return;
        }
        var db = Db();
        try
        {
            await db.HashDeleteAsync(Key, [.. ids.Select(id => (RedisValue)id)]);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            throw Failed("remove grant requests", ex);
        }
    }

    /// <summary>
    /// Takes the decision lock of request <paramref name="id"/>, trying again for up to <paramref name="wait"/> while
    /// another replica holds it; null when it could not be had. Throws <see cref="IOException"/> when Redis is unavailable.
    /// The wait is on the real clock, as the lock's lifetime in Redis is (not on the proxy's, which tests may fake).
    /// </summary>
    public async Task<IAsyncDisposable?> LockAsync(string id, TimeSpan wait)
    {
        var db = Db();
        var key = Context(id) + ":lock";
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (true)
            {
                if (await db.StringSetAsync(key, token, LockLifetime, When.NotExists))
                {
                    return new Held(db, key, token);
                }
                if (waited.Elapsed >= wait)
                {
                    return null;
                }
                // Another replica is deciding this request: its decision takes a round trip or two.
                await Task.Delay(TimeSpan.FromMilliseconds(25));
            }
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            throw Failed("lock a grant request", ex);
        }
    }

    /// <summary>Calls <paramref name="reload"/> when another replica changed the requests.</summary>
    public void OnChangedElsewhere(Action reload) => redis.Subscribe(Channel, message =>
    {
        if (message != redis.ReplicaId)
        {
            reload();
        }
    });

    private ApprovalRequest? Open(string id, RedisValue value)
    {
        if (value.IsNullOrEmpty || keys.Open(value.ToString(), Context(id)) is not { } plaintext)
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(plaintext, ApprovalJson.Default.ApprovalRequest) is { } request && request.Id == id ? request : null;
        }
        catch (JsonException)
        {
            // One unreadable entry (written by a newer version) must not take the others with it.
            return null;
        }
    }

    private IDatabase Db() => redis.Database().Db ?? throw new IOException("Redis is not connected");

    private IOException Failed(string operation, Exception ex)
    {
        redis.Failed(operation, ex);
        return new IOException($"Redis failed ({ex.GetType().Name})", ex);
    }

    private sealed class Held(IDatabase db, string key, string token) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await db.ScriptEvaluateAsync(ReleaseScript, [key], [token]);
            }
            catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
            {
                // The lock expires by itself.
            }
        }
    }
}

[JsonSerializable(typeof(ApprovalRequest))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class ApprovalJson : JsonSerializerContext;
