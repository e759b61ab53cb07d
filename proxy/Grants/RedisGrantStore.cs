using System.Text.Json;
using SecretlessProxy.Credentials.Shared;

namespace SecretlessProxy.Grants;

/// <summary>
/// Grants in the Redis of <c>cache.redis</c> (a hash, one field per grant), shared by replicas: a change is applied
/// field by field in one transaction, then announced over pub/sub so the other replicas reload. Grants are not
/// secrets (who may use what, approved by whom), so they are kept as plain JSON.
/// </summary>
internal sealed class RedisGrantStore(RedisCredentialCache redis, string keyPrefix) : IGrantStore
{
    public string Location => $"redis key {keyPrefix}grants";

    public bool IsShared => true;

    public async Task<IReadOnlyList<Grant>> LoadAsync(CancellationToken cancellationToken)
    {
        var grants = new List<Grant>();
        foreach (var json in await redis.ReadGrantsAsync())
        {
            try
            {
                if (JsonSerializer.Deserialize(json, GrantJson.Default.Grant) is { } grant)
                {
                    grants.Add(grant);
                }
            }
            catch (JsonException)
            {
                // One unreadable entry (written by hand, or by a newer version) must not take the others with it.
            }
        }
        return grants;
    }

    public Task SaveAsync(IReadOnlyList<Grant> all, IReadOnlyList<Grant> added, IReadOnlyList<string> removedIds, CancellationToken cancellationToken) =>
        redis.ChangeGrantsAsync([.. added.Select(g => KeyValuePair.Create(g.Id, JsonSerializer.Serialize(g, GrantJson.Default.Grant)))], removedIds);
}
