using System.Collections.Frozen;
using SecretlessProxy.Identity.Unix;

namespace SecretlessProxy.Identity;

/// <summary>The config's local identities: by name (loopback listeners), and those with Unix selectors in order.</summary>
public sealed class LocalIdentityMap
{
    public static readonly LocalIdentityMap Empty = new([]);

    private readonly FrozenDictionary<string, LocalIdentity> _byName;
    private readonly LocalIdentity[] _unix;

    public LocalIdentityMap(IEnumerable<LocalIdentity> identities)
    {
        var all = identities.ToList();
        _byName = all.ToFrozenDictionary(i => i.Name, StringComparer.OrdinalIgnoreCase);
        _unix = [.. all.Where(i => i.Unix is not null)];
    }

    public bool HasUnixIdentities => _unix.Length > 0;

    public LocalIdentity? Named(string? name) => name is not null && _byName.TryGetValue(name, out var identity) ? identity : null;

    /// <summary>The identity whose selectors the caller matches (the config guarantees at most one), or null.</summary>
    public LocalIdentity? Match(PeerProcess process)
    {
        foreach (var identity in _unix)
        {
            if (identity.Unix!.Matches(process))
            {
                return identity;
            }
        }
        return null;
    }
}
