using System.Collections.Frozen;
using SecretlessProxy.Audit;
using SecretlessProxy.Credentials;
using SecretlessProxy.Listeners;
using SecretlessProxy.Policy;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>
/// One validated, compiled config: what the hot path reads. Immutable; a reload builds a new one and swaps it
/// in whole, so a request sees either the old or the new config, never a mix.
/// </summary>
public sealed class ProxyConfig : IDisposable
{
    public required string FilePath { get; init; }

    public required IReadOnlyList<ListenerSettings> Listeners { get; init; }

    public required PolicyModel Policy { get; init; }

    public required FrozenDictionary<string, CredentialBinding> Credentials { get; init; }

    /// <summary>Route id → the credential injected on it (routes without one are absent).</summary>
    public required FrozenDictionary<string, CredentialBinding> RouteCredentials { get; init; }

    public required IReadOnlyList<RouteConfig> Routes { get; init; }

    public required IReadOnlyList<ClusterConfig> Clusters { get; init; }

    public required DecisionLogSettings DecisionLog { get; init; }

    /// <summary>The config as JSON with secrets redacted (the admin API's <c>GET /config</c>).</summary>
    public string EffectiveConfig { get; init; } = "{}";

    /// <summary>Where grants are kept (read at start) and the longest window one may have.</summary>
    public Grants.GrantSettings Grants { get; init; } = new(System.IO.Path.Combine(AppContext.BaseDirectory, "grants.json"), SecretlessProxy.Grants.GrantSettings.DefaultMaxDuration);

    /// <summary>The names under <c>identities</c>, by the SPIFFE ID or pattern they stand for.</summary>
    public IReadOnlyDictionary<string, string> IdentityNames { get; init; } = new Dictionary<string, string>();

    /// <summary>Opt-in metric labels.</summary>
    public Metrics.MetricsSettings Metrics { get; init; } = SecretlessProxy.Metrics.MetricsSettings.Default;

    /// <summary>The in-memory cache switch and the optional Redis layer.</summary>
    public CacheSettings Cache { get; init; } = CacheSettings.MemoryOnly;

    /// <summary>Files whose change triggers a reload: the config itself, certificates, keys, bundles.</summary>
    public required IReadOnlyList<string> WatchedFiles { get; init; }

    public required IReadOnlyList<ConfigError> Warnings { get; init; }

    public string Summary => $"{Listeners.Count} listener(s), {Routes.Count} route(s), {Clusters.Count} cluster(s), {Credentials.Count} credential(s), {Policy.Rules.Count} policy rule(s)";

    public void Dispose()
    {
        foreach (var credential in Credentials.Values)
        {
            credential.Dispose();
        }
    }
}
