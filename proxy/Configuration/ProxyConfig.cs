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
public sealed class ProxyConfig : IDisposable, Approvals.IApprovalScope
{
    public required string FilePath { get; init; }

    public required IReadOnlyList<ListenerSettings> Listeners
    {
        get => _listeners;
        init
        {
            _listeners = value;
            _listenersByName = value.ToFrozenDictionary(l => l.Name, StringComparer.OrdinalIgnoreCase);
        }
    }

    private readonly IReadOnlyList<ListenerSettings> _listeners = [];
    private readonly FrozenDictionary<string, ListenerSettings> _listenersByName = FrozenDictionary<string, ListenerSettings>.Empty;

    /// <summary>The listener of that name (case-insensitive), or null.</summary>
    public ListenerSettings? Listener(string? name) => name is not null && _listenersByName.TryGetValue(name, out var listener) ? listener : null;

    /// <summary>The SPIFFE Workload API client (<c>spiffe.workloadApi</c>) the listeners' certificate and bundles come from, or null (files).</summary>
    public WorkloadApi.WorkloadApiClient? WorkloadApi { get; init; }

    /// <summary>The federated trust domains' bundles (<c>spiffe.federation</c>), or null.</summary>
    public Federation.FederatedBundles? Federation { get; init; }

    /// <summary>Where the proxy serves its own trust domain's bundle (<c>spiffe.bundleEndpoint</c>), or null.</summary>
    public Federation.BundleEndpointSettings? BundleEndpoint { get; init; }

    /// <summary>The identities local callers can be (Unix socket peers by their selectors, loopback listeners by name).</summary>
    public Identity.LocalIdentityMap LocalIdentities { get; init; } = Identity.LocalIdentityMap.Empty;

    public required PolicyModel Policy { get; init; }

    /// <summary><c>approvals</c>: request expiry, OIDC approvers, the webhook (defaults when the section is absent).</summary>
    public Approvals.ApprovalSettings Approvals { get; init; } = SecretlessProxy.Approvals.ApprovalSettings.Default;

    /// <summary>The databases the PostgreSQL gateway serves, by the name clients use.</summary>
    public FrozenDictionary<string, Databases.DatabaseSettings> Databases { get; init; } = FrozenDictionary<string, Databases.DatabaseSettings>.Empty;

    public required FrozenDictionary<string, CredentialBinding> Credentials { get; init; }

    /// <summary>Route id → the credential injected on it (routes without one are absent).</summary>
    public required FrozenDictionary<string, CredentialBinding> RouteCredentials { get; init; }

    /// <summary>Route id → override headers kept and response redaction (every route has an entry).</summary>
    public FrozenDictionary<string, RouteSecurity> RouteSecurity { get; init; } = FrozenDictionary<string, RouteSecurity>.Empty;

    /// <summary>Route id → its MCP settings, for routes with <c>Metadata: { Protocol: mcp }</c> (others are absent).</summary>
    public FrozenDictionary<string, McpRouteSettings> McpRoutes { get; init; } = FrozenDictionary<string, McpRouteSettings>.Empty;

    private IReadOnlyList<RouteConfig> _routes = [];
    private IReadOnlyList<ClusterConfig> _clusters = [];
    private FrozenDictionary<string, RouteConfig>? _routesById;
    private FrozenDictionary<string, ClusterConfig>? _clustersById;

    public required IReadOnlyList<RouteConfig> Routes { get => _routes; init => _routes = value; }

    public required IReadOnlyList<ClusterConfig> Clusters { get => _clusters; init => _clusters = value; }

    /// <summary>Cluster id → where the client certificate it presents comes from (<c>Metadata: { ClientCertificate: proxy-svid }</c>); other clusters are absent.</summary>
    public FrozenDictionary<string, Listeners.TlsMaterial> ClusterCertificates { get; init; } = FrozenDictionary<string, Listeners.TlsMaterial>.Empty;

    /// <summary>
    /// True when YARP matched <paramref name="route"/> (and picked <paramref name="cluster"/>) from this config, so
    /// policy and credential read the same config the route came from. Compares references: <see cref="InternFrom"/>
    /// makes unchanged routes and clusters the very objects YARP kept from the previous config.
    /// </summary>
    public bool Produced(RouteConfig route, ClusterConfig? cluster)
    {
        var routes = _routesById ??= _routes.ToFrozenDictionary(r => r.RouteId, StringComparer.OrdinalIgnoreCase);
        if (!routes.TryGetValue(route.RouteId, out var mine) || !ReferenceEquals(mine, route))
        {
            return false;
        }
        if (cluster is null)
        {
            return true;
        }
        var clusters = _clustersById ??= _clusters.ToFrozenDictionary(c => c.ClusterId, StringComparer.OrdinalIgnoreCase);
        return clusters.TryGetValue(cluster.ClusterId, out var theirs) && ReferenceEquals(theirs, cluster);
    }

    /// <summary>
    /// Before this config is published: routes and clusters equal to the previous config's become those same
    /// objects (YARP keeps its models of unchanged routes, and with them the old objects).
    /// </summary>
    internal void InternFrom(ProxyConfig previous)
    {
        var oldRoutes = previous._routes.ToDictionary(r => r.RouteId, StringComparer.OrdinalIgnoreCase);
        _routes = [.. _routes.Select(r => oldRoutes.TryGetValue(r.RouteId, out var old) && old.Equals(r) ? old : r)];
        var oldClusters = previous._clusters.ToDictionary(c => c.ClusterId, StringComparer.OrdinalIgnoreCase);
        _clusters = [.. _clusters.Select(c => oldClusters.TryGetValue(c.ClusterId, out var old) && old.Equals(c) ? old : c)];
        _routesById = null;
        _clustersById = null;
    }

    public required DecisionLogSettings DecisionLog { get; init; }

    /// <summary>The config as JSON with secrets redacted (the admin API's <c>GET /config</c>).</summary>
    public string EffectiveConfig { get; init; } = "{}";

    /// <summary>Where grants are kept (read at start) and the longest window one may have.</summary>
    public Grants.GrantSettings Grants { get; init; } = new(System.IO.Path.Combine(AppContext.BaseDirectory, "grants.json"), SecretlessProxy.Grants.GrantSettings.DefaultMaxDuration);

    /// <summary>The names under <c>identities</c>, by the SPIFFE ID or pattern they stand for.</summary>
    public IReadOnlyDictionary<string, string> IdentityNames { get; init; } = new Dictionary<string, string>();

    /// <summary>Where context facts per identity come from (<c>posture</c>); null when none is configured.</summary>
    public Posture.PostureSettings? Posture { get; init; }

    /// <summary>The external decision hook asked after the policy allowed (<c>decisionHook</c>); null when none.</summary>
    public Hooks.DecisionHookSettings? DecisionHook { get; init; }

    /// <summary>Resource bounds of the whole proxy.</summary>
    public LimitSettings Limits { get; init; } = LimitSettings.Default;

    /// <summary>Opt-in metric labels.</summary>
    public Metrics.MetricsSettings Metrics { get; init; } = SecretlessProxy.Metrics.MetricsSettings.Default;

    /// <summary>The in-memory cache switch and the optional Redis layer.</summary>
    public CacheSettings Cache { get; init; } = CacheSettings.MemoryOnly;

    /// <summary>The stores named under <c>stores</c>, by name.</summary>
    public IReadOnlyDictionary<string, StoreInfo> Stores { get; init; } = new Dictionary<string, StoreInfo>();

    /// <summary>The secret classes under <c>classes</c>, by name.</summary>
    public IReadOnlyDictionary<string, SecretClass> Classes { get; init; } = new Dictionary<string, SecretClass>();

    /// <summary>The <c>inventory</c> section: the fingerprint key and how often usage goes to Redis.</summary>
    public InventorySettings Inventory { get; init; } = InventorySettings.Default;

    /// <summary>Owner and team of each identity under <c>identities</c>, by its name.</summary>
    public IReadOnlyDictionary<string, Ownership> IdentityOwners { get; init; } = new Dictionary<string, Ownership>();

    /// <summary>Owner and team of each route (<c>Metadata: { Owner, Team }</c>), by route id.</summary>
    public IReadOnlyDictionary<string, Ownership> RouteOwners { get; init; } = new Dictionary<string, Ownership>();

    /// <summary>The owner and team of an identity by its SPIFFE ID text (the name it has under <c>identities</c>), or <see cref="Ownership.None"/>.</summary>
    public Ownership OwnerOfIdentity(string spiffeId) =>
        IdentityNames.TryGetValue(spiffeId, out var name) && IdentityOwners.TryGetValue(name, out var owners) ? owners : Ownership.None;

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
