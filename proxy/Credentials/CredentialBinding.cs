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

    /// <summary>
    /// A hash of the credential's provider and settings: two replicas (or two generations of the config) share
    /// cached tokens only when it matches, so an edited scope or client never serves a token issued for the old one.
    /// </summary>
    public string Fingerprint { get; init; } = "";

    /// <summary>The store it comes from: the name under <c>stores</c>, or for an inline credential its provider and host (<c>inline:vault@vault:8200</c>).</summary>
    public string Store { get; init; } = "";

    /// <summary>True when the credential names a store under <c>stores</c> (<c>store: NAME</c>) rather than its own connection settings.</summary>
    public bool StoreIsNamed { get; init; }

    /// <summary>Where in its store the secret lives (a file, a KV path and field, a secret id), or null when the provider mints it.</summary>
    public string? StorePath { get; init; }

    /// <summary>The file the provider reads, when it reads one (its modification time is the secret's age).</summary>
    public string? SourceFile { get; init; }

    /// <summary>The secret class (<c>class:</c>), or null.</summary>
    public SecretClass? Class { get; init; }

    /// <summary>Who owns the credential (<c>owner:</c>), or null.</summary>
    public string? Owner { get; init; }

    /// <summary>The team that owns the credential (<c>team:</c>), or null.</summary>
    public string? Team { get; init; }

    /// <summary>True when the provider hands out long-lived secrets from a store (migration debt; revoking one cannot reach its issuer).</summary>
    public bool IssuesStaticSecrets { get; init; }

    /// <summary>
    /// How the proxy signs in to the store, when that is itself a long-lived secret (migration debt): a Google
    /// service-account key file, a Vault AppRole secret_id. Null for keyless sign-ins (federation, certificates, JWTs).
    /// </summary>
    public string? StoreAuthDebt { get; init; }

    public CredentialCache Cache { get; private set; } = new();

    private System.Collections.Concurrent.ConcurrentDictionary<string, CredentialCache> _perWorkload = new(StringComparer.Ordinal);

    /// <summary>Takes over the caches of the same credential from the previous config, so a reload does not refetch tokens.</summary>
    public void AdoptCachesFrom(CredentialBinding previous)
    {
        ArgumentNullException.ThrowIfNull(previous);
        if (previous.Fingerprint.Length > 0 && previous.Fingerprint == Fingerprint && previous.Provider.IsWorkloadBound == Provider.IsWorkloadBound)
        {
            Cache = previous.Cache;
            _perWorkload = previous._perWorkload;
        }
    }

    /// <summary>Between a workload and a user in a cache key: a character no SPIFFE ID holds.</summary>
    private const char UserSeparator = '\n';

    /// <summary>The cache of one workload, when it has one (workload-bound providers only; not those it holds per user).</summary>
    public CredentialCache? CacheOfWorkload(string workloadId) => _perWorkload.GetValueOrDefault(workloadId);

    /// <summary>The caches of one workload: its own and one per user it acted for (on-behalf-of providers).</summary>
    public List<(string? WorkloadId, CredentialCache Cache)> CachesOfWorkload(string workloadId) =>
        [.. _perWorkload.Where(pair => pair.Key == workloadId || pair.Key.Length > workloadId.Length && pair.Key[workloadId.Length] == UserSeparator && pair.Key.StartsWith(workloadId, StringComparison.Ordinal))
            .Select(pair => ((string?)workloadId, pair.Value))];

    /// <summary>The cache for this call: one per workload when the provider issues workload-bound credentials, and per user it acts for.</summary>
    public CredentialCache CacheFor(CredentialRequest request) =>
        Provider.IsWorkloadBound && request.WorkloadId is { } workload
            ? _perWorkload.GetOrAdd(request.OnBehalfOf is { } user ? workload + UserSeparator + user.Subject : workload, static _ => new CredentialCache())
            : Cache;

    private static string WorkloadOf(string key) => key.IndexOf(UserSeparator, StringComparison.Ordinal) is var at and >= 0 ? key[..at] : key;

    /// <summary>What the caches hold now, for the console: how many live entries and the soonest expiry (never the credential).</summary>
    public (int Live, DateTimeOffset? NextExpiry) CacheSummary(DateTimeOffset now)
    {
        var live = 0;
        DateTimeOffset? next = null;
        foreach (var cache in _perWorkload.Values.Append(Cache))
        {
            if (cache.Current is { } entry && entry.ExpiresAt > now)
            {
                live++;
                next = next is { } soonest && soonest < entry.ExpiresAt ? soonest : entry.ExpiresAt;
            }
        }
        return (live, next);
    }

    /// <summary>How many workloads have a cache of their own right now.</summary>
    public int WorkloadCacheCount => _perWorkload.Count;

    /// <summary>
    /// Forgets the caches of workloads whose credential has expired and is not being fetched (and that hold no replaced
    /// credential still to release), so the number of caches follows the workloads active within a credential
    /// lifetime, not every workload ever seen.
    /// </summary>
    public int SweepIdle(DateTimeOffset now)
    {
        var removed = 0;
        foreach (var (workload, cache) in _perWorkload)
        {
            bool idle;
            lock (cache.Gate)
            {
                idle = (cache.Current is null || now >= cache.Current.ExpiresAt) && cache.InFlight is null or { IsCompleted: true } && cache.Retired is null or [];
            }
            if (idle && _perWorkload.TryRemove(new KeyValuePair<string, CredentialCache>(workload, cache)))
            {
                removed++;
            }
        }
        return removed;
    }

    /// <summary>
    /// Takes the credentials whose lifetime has ended out of every cache (the current one, and those a refresh replaced),
    /// so they can be released once; what is still valid stays.
    /// </summary>
    internal List<(string? WorkloadId, Credential Credential)> TakeExpired(DateTimeOffset now)
    {
        var expired = new List<(string?, Credential)>();
        foreach (var (workload, cache) in CachesByWorkload)
        {
            lock (cache.Gate)
            {
                if (cache.Current is { } current && now >= current.ExpiresAt)
                {
                    expired.Add((workload, current.Credential));
                    cache.Current = null;
                }
                if (cache.Retired is { Count: > 0 } retired)
                {
                    foreach (var entry in retired.Where(r => now >= r.ExpiresAt))
                    {
                        expired.Add((workload, entry.Credential));
                    }
                    retired.RemoveAll(r => now >= r.ExpiresAt);
                }
            }
        }
        return expired;
    }

    /// <summary>Every cache with the workload it belongs to (null for the one shared by every caller).</summary>
    public IEnumerable<(string? WorkloadId, CredentialCache Cache)> CachesByWorkload =>
        _perWorkload.Select(pair => ((string?)WorkloadOf(pair.Key), pair.Value)).Prepend((null, Cache));

    /// <summary>Every cache of this credential (revocation drops them all).</summary>
    public IEnumerable<CredentialCache> AllCaches => _perWorkload.Values.Prepend(Cache);

    private Tuple<IPreparedInjection, Injection.EchoMask?>? _lastMask;

    /// <summary>The mask of a prepared injection's wire forms, built once per prepared instance (null when it has none).</summary>
    internal Injection.EchoMask? MaskFor(IPreparedInjection prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        var last = Volatile.Read(ref _lastMask);
        if (last is not null && ReferenceEquals(last.Item1, prepared))
        {
            return last.Item2;
        }
        var mask = Injection.EchoMask.For(prepared.EchoForms);
        Volatile.Write(ref _lastMask, Tuple.Create(prepared, mask));
        return mask;
    }

    public void Dispose() => Provider.Dispose();
}
