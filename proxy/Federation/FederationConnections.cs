using Microsoft.Extensions.Logging;

namespace SecretlessProxy.Federation;

/// <summary>
/// One <see cref="BundleFetcher"/> per federation entry for the process: a reload that keeps an entry keeps its fetcher
/// (and the bundle in hand); an entry an applied reload drops stops being fetched (<see cref="Retain"/>). When <paramref name="connect"/> is false
/// (validate, offline compiles) fetchers are made but never started, so no endpoint is contacted.
/// </summary>
public sealed class FederationConnections(TimeProvider time, ILoggerFactory loggers, bool connect) : IDisposable
{
    private readonly Dictionary<FederationSettings, BundleFetcher> _fetchers = [];
    private readonly Lock _lock = new();

    /// <summary>Called after a failed fetch: the fetcher, the reason.</summary>
    public Action<BundleFetcher, string>? Failed { get; set; }

    /// <summary>Called after a successful fetch: trust domain.</summary>
    public Action<string>? Succeeded { get; set; }

    /// <summary>The fetchers of one config's entries (started when this process fetches); fetchers of entries no longer named stop.</summary>
    public FederatedBundles For(IReadOnlyList<FederationSettings> settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_lock)
        {
            var kept = new List<BundleFetcher>();
            foreach (var entry in settings)
            {
                if (!_fetchers.TryGetValue(entry, out var fetcher))
                {
                    fetcher = new BundleFetcher(entry, time, loggers.CreateLogger<BundleFetcher>())
                    {
                        Failed = (fetcher, reason) => Failed?.Invoke(fetcher, reason),
                        Succeeded = domain => Succeeded?.Invoke(domain),
                    };
                    _fetchers[entry] = fetcher;
                    if (connect)
                    {
                        fetcher.Start();
                    }
                }
                kept.Add(fetcher);
            }
            return new FederatedBundles(kept);
        }
    }

    /// <summary>Once a config is applied: stops the fetchers it no longer names (a refused config never stops any).</summary>
    public void Retain(FederatedBundles? current)
    {
        lock (_lock)
        {
            foreach (var stale in _fetchers.Where(f => current is null || !current.Fetchers.Contains(f.Value)).ToList())
            {
                stale.Value.Dispose();
                _fetchers.Remove(stale.Key);
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var fetcher in _fetchers.Values)
            {
                fetcher.Dispose();
            }
            _fetchers.Clear();
        }
    }
}
