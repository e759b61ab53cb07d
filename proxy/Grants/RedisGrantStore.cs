using System.Text.Json;
using SecretlessProxy.Credentials.Shared;

namespace SecretlessProxy.Grants;

/// <summary>
/// Grants in the Redis of <c>cache.redis</c> (a hash, one field per grant), shared by replicas: a change is applied
/// field by field in one transaction, then announced over pub/sub so the other replicas reload. Whoever can write
/// to Redis must not be able to grant access: each grant is sealed (AES-256-GCM with the cache's key ring, bound to
/// its field name), and an entry that does not open is never put in force; it is reported once as rejected.
/// </summary>
internal sealed class RedisGrantStore(RedisCredentialCache redis, string keyPrefix, CacheKeyRing keys) : IGrantStore
{
    public string Location => $"redis key {keyPrefix}grants";

    public bool IsShared => true;

    public async Task<IReadOnlyList<Grant>> LoadAsync(CancellationToken cancellationToken)
    {
        var grants = new List<Grant>();
        Rejected = [];
        foreach (var (id, value) in await redis.ReadGrantsAsync())
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
        redis.ChangeGrantsAsync([.. added.Select(g => KeyValuePair.Create(g.Id, keys.Seal(JsonSerializer.SerializeToUtf8Bytes(g, GrantJson.Default.Grant), Context(g.Id))))], removedIds);

    private string Context(string id) => $"{keyPrefix}grants:{id}";
}
