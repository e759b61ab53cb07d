using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Federation;

/// <summary>
/// The bundles of a config's federated trust domains as the fetchers have them now: a domain appears once its first
/// bundle arrived (a caller of that domain is refused before), and changes as its endpoint rotates it.
/// </summary>
public sealed class FederatedBundles : IFederatedBundleSource
{
    private readonly IReadOnlyList<BundleFetcher> _fetchers;
    private Snapshot? _snapshot;

    public FederatedBundles(IReadOnlyList<BundleFetcher> fetchers) => _fetchers = fetchers;

    public IReadOnlyList<BundleFetcher> Fetchers => _fetchers;

    /// <summary>The federated trust domains' current bundles (a new set only when a fetcher's bundle changed).</summary>
    public TrustBundleSet Current
    {
        get
        {
            var bundles = _fetchers.Select(f => f.Bundle).ToArray();
            var snapshot = _snapshot;
            if (snapshot is not null && snapshot.Bundles.AsSpan().SequenceEqual(bundles))
            {
                return snapshot.Set;
            }
            var map = new Dictionary<string, X509Certificate2Collection>(StringComparer.Ordinal);
            for (var i = 0; i < _fetchers.Count; i++)
            {
                if (bundles[i] is { } bundle)
                {
                    map[_fetchers[i].Settings.TrustDomain] = bundle.X509Authorities;
                }
            }
            snapshot = new Snapshot(bundles, new TrustBundleSet(map));
            _snapshot = snapshot;
            return snapshot.Set;
        }
    }

    private sealed record Snapshot(SpiffeBundle?[] Bundles, TrustBundleSet Set);
}
