using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Credentials;

/// <summary>
/// A configured credential: where it comes from, how it is put on a request, how long it may be cached,
/// and its cache.
/// </summary>
public sealed class CredentialBinding(string name, string providerName, ICredentialProvider provider, string injectorName, ICredentialInjector injector) : IDisposable
{
    public const double DefaultRefreshFraction = 0.8;

    public string Name { get; } = name;

    public string ProviderName { get; } = providerName;

    public ICredentialProvider Provider { get; } = provider;

    public string InjectorName { get; } = injectorName;

    public ICredentialInjector Injector { get; } = injector;

    /// <summary>The longest a credential is cached, whatever lifetime its issuer gave it; null for no cap.</summary>
    public TimeSpan? MaxTtl { get; init; }

    /// <summary>The fraction of a credential's lifetime after which it is refreshed in the background.</summary>
    public double RefreshFraction { get; init; } = DefaultRefreshFraction;

    public CredentialCache Cache { get; } = new();

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CredentialCache> _perWorkload = new(StringComparer.Ordinal);

    /// <summary>The cache for this call: one per workload when the provider issues workload-bound credentials.</summary>
    public CredentialCache CacheFor(CredentialRequest request) =>
        Provider.IsWorkloadBound && request.WorkloadId is { } workload ? _perWorkload.GetOrAdd(workload, static _ => new CredentialCache()) : Cache;

    /// <summary>Every cache of this credential (revocation drops them all).</summary>
    public IEnumerable<CredentialCache> AllCaches => _perWorkload.Values.Prepend(Cache);

    public void Dispose() => Provider.Dispose();
}
