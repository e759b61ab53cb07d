using System.Collections.Frozen;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Policy;

/// <summary>
/// The grants the policy sees: an immutable snapshot of identity → route → access windows, built whenever grants
/// or the config change (a grant for a credential is expanded to every route that injects it). A lookup is two
/// dictionary reads and no allocation; whether a window is live is decided against the time the policy is given.
/// </summary>
public sealed class GrantSet
{
    private readonly FrozenDictionary<string, FrozenDictionary<string, (DateTimeOffset From, DateTimeOffset Until)[]>> _byIdentity;

    public GrantSet(IEnumerable<(string Identity, string Route, DateTimeOffset From, DateTimeOffset Until)> windows)
    {
        ArgumentNullException.ThrowIfNull(windows);
        _byIdentity = windows
            .GroupBy(w => w.Identity, StringComparer.Ordinal)
            .ToFrozenDictionary(
                byIdentity => byIdentity.Key,
                byIdentity => byIdentity.GroupBy(w => w.Route, StringComparer.OrdinalIgnoreCase)
                    .ToFrozenDictionary(byRoute => byRoute.Key, byRoute => byRoute.Select(w => (w.From, w.Until)).ToArray(), StringComparer.OrdinalIgnoreCase),
                StringComparer.Ordinal);
    }

    public static GrantSet Empty { get; } = new([]);

    public int IdentityCount => _byIdentity.Count;

    /// <summary>True when <paramref name="identity"/> holds a grant for <paramref name="routeId"/> that is live at <paramref name="now"/>.</summary>
    public bool Allows(SpiffeId caller, string routeId, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (!_byIdentity.TryGetValue(caller.Value, out var routes) || !routes.TryGetValue(routeId, out var windows))
        {
            return false;
        }
        foreach (var (from, until) in windows)
        {
            if (from <= now && now < until)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The end of the latest live window of <paramref name="identity"/> on <paramref name="routeId"/>, if any.</summary>
    public DateTimeOffset? LiveUntil(string identity, string routeId, DateTimeOffset now)
    {
        if (!_byIdentity.TryGetValue(identity, out var routes) || !routes.TryGetValue(routeId, out var windows))
        {
            return null;
        }
        DateTimeOffset? latest = null;
        foreach (var (from, until) in windows)
        {
            if (from <= now && now < until && (latest is null || until > latest))
            {
                latest = until;
            }
        }
        return latest;
    }
}
