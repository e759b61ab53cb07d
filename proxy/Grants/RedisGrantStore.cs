using System.Text.Json;
using SecretlessProxy.Redis;
using StackExchange.Redis;

namespace SecretlessProxy.Grants;

/// <summary>
/// Grants in the Redis of <c>cache.redis</c> (a hash, one field per grant), shared by replicas: a change is applied
/// field by field in one transaction, then announced over pub/sub so the other replicas reload. Whoever can write
/// to Redis must not be able to grant access: each grant is sealed (AES-256-GCM with the cache's key ring, bound to
/// its field name), and an entry that does not open is never put in force; it is reported once as rejected.
/// </summary>
internal sealed class RedisGrantStore(RedisConnection redis, string keyPrefix, CacheKeyRing keys) : IGrantStore
{
    public string Location => $"redis key {keyPrefix}grants";

    public bool IsShared => true;

    public async Task<IReadOnlyList<Grant>> LoadAsync(CancellationToken cancellationToken)
    {
        var grants = new List<Grant>();
        Rejected = [];
        foreach (var (id, value) in await ReadAsync())
        {
            var plaintext = keys.Open(value, Context(id));
            if (plaintext is null)
            {
                Rejected.Add((id, "the stored grant does not open with the cache's keys (written by something other than a replica, tampered with, or sealed with a key since removed)"));
                continue;
            }
            try
            {
                if (JsonSerializer.Deserialize(plaintext, GrantJson.Default.Grant) is { } grant && grant.Id == id)
                {
                    grants.Add(grant);
                    continue;
                }
                Rejected.Add((id, "the stored grant's id does not match its field"));
            }
            catch (JsonException)
            {
                // One unreadable entry (written by a newer version) must not take the others with it.
                Rejected.Add((id, "the stored grant is not readable JSON"));
            }
        }
        return grants;
    }

    /// <summary>The entries of the last load that were not taken, with why.</summary>
    public List<(string Id, string Problem)> Rejected { get; private set; } = [];

    public Task SaveAsync(IReadOnlyList<Grant> all, IReadOnlyList<Grant> added, IReadOnlyList<string> removedIds, CancellationToken cancellationToken) =>
        ChangeAsync([.. added.Select(g => KeyValuePair.Create(g.Id, keys.Seal(JsonSerializer.SerializeToUtf8Bytes(g, GrantJson.Default.Grant), Context(g.Id))))], removedIds);

    private string Context(string id) => $"{keyPrefix}grants:{id}";

    /// <summary>Calls <paramref name="reload"/> when another replica changed the grants.</summary>
    public void OnChangedElsewhere(Action reload) => redis.Subscribe("grants", message =>
    {
        if (message != redis.ReplicaId)
        {
            reload();
        }
    });

    /// <summary>The grants kept in Redis (field, stored value). Throws <see cref="IOException"/> when Redis is unavailable.</summary>
    private async Task<IReadOnlyList<KeyValuePair<string, string>>> ReadAsync()
    {
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            throw new IOException("Redis is not connected");
        }
        try
        {
            var entries = await db.HashGetAllAsync(settings.KeyPrefix + "grants");
            return [.. entries.Select(e => KeyValuePair.Create(e.Name.ToString(), e.Value.ToString()))];
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("read grants", ex);
            throw new IOException($"Redis failed ({ex.GetType().Name})", ex);
        }
    }

    /// <summary>Adds and removes grants (by id) in one transaction and tells the other replicas to reload. Throws <see cref="IOException"/> when Redis is unavailable.</summary>
    private async Task ChangeAsync(IReadOnlyList<KeyValuePair<string, string>> added, IReadOnlyList<string> removedIds)
    {
        var (db, settings) = redis.Database();
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
            await redis.PublishAsync(db, "grants", redis.ReplicaId);
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("write grants", ex);
            throw new IOException($"Redis failed ({ex.GetType().Name})", ex);
        }
    }
}
