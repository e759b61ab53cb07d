using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Credentials;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>Reads and validates a whole config file, collecting every error, and compiles it into a <see cref="ProxyConfig"/>.</summary>
public sealed class ConfigCompiler(PluginCatalog catalog, IConfigValidator yarpValidator, TimeProvider time, ILoggerFactory loggers)
{
    /// <summary>
    /// The Workload API clients of the running proxy (one per socket, kept across reloads); null for offline compiles
    /// (validate), whose clients never contact the agent.
    /// </summary>
    public WorkloadApi.WorkloadApiConnections? WorkloadApi { get; init; }

    /// <summary>The keys a config file may have at its top (the docs test checks snippets against them).</summary>
    internal static IReadOnlyList<string> TopLevelKeyNames => TopLevelKeys;
    /// <summary>The process's federation fetchers (<c>spiffe.federation</c>); null compiles fetch nothing (validate).</summary>
    public Federation.FederationConnections? Federation { get; init; }

    private static readonly string[] TopLevelKeys = ["listeners", "identities", "credentials", "databases", "policies", "decisionLog", "cache", "metrics", "grants", "limits", "posture", "decisionHook", "stores", "classes", "inventory", "approvals", "tokenIssuers", "spiffe", "ReverseProxy"];

    /// <param name="offline">Check everything but the files the runtime mounts (<see cref="ConfigDocument.Offline"/>).</param>
    public async Task<ConfigCompilation> CompileAsync(string path, bool offline = false)
    {
        var document = ConfigDocument.TryLoad(path, out var parseError);
        if (document is null)
        {
            return new ConfigCompilation(null, [parseError!], []);
        }
        if (offline)
        {
            document = document.AsOffline();
        }
        // Credentials that name a store get the store's provider and settings first: everything after sees plain credentials.
        var expansion = StoreSection.Expand(document);
        document = expansion.Document;
        var errors = new ConfigErrorList(document);
        foreach (var (key, message, fix) in expansion.Problems)
        {
            errors.Add(key, message, fix);
        }
        ConfigSections.CheckKnownKeys(document.Root, TopLevelKeys, errors, "the config file");
        var watched = new List<string> { document.FilePath };
        var (identities, localIdentities) = IdentitySection.Compile(document, errors, out var identityOwners);
        var classes = ClassSection.Compile(document, errors, identities);
        var inventory = InventorySection.Compile(document, errors);
        var workloadApiSettings = SpiffeSection.Compile(document, errors);
        // A spiffe section with errors still stands in for the files, so listeners do not add "certificate is required" to its own errors.
        workloadApiSettings ??= document.Root.GetSection("spiffe:workloadApi").Exists() ? new SecretlessProxy.WorkloadApi.WorkloadApiSettings("", SecretlessProxy.WorkloadApi.WorkloadApiSettings.DefaultRetryMaxDelay) : null;
        var workloadApi = workloadApiSettings is null ? null
            : errors.HasErrors || WorkloadApi is null ? new SecretlessProxy.WorkloadApi.WorkloadApiClient(workloadApiSettings, time, loggers.CreateLogger<SecretlessProxy.WorkloadApi.WorkloadApiClient>())
            : WorkloadApi.For(workloadApiSettings);
        var federationSettings = SpiffeSection.CompileFederation(document, errors);
        var bundleEndpoint = SpiffeSection.CompileBundleEndpoint(document, errors, federationSettings);
        var federation = !document.Root.GetSection("spiffe:federation").Exists() ? null
            : (errors.HasErrors || Federation is null ? new SecretlessProxy.Federation.FederationConnections(time, loggers, connect: false) : Federation).For(federationSettings);
        var tokenIssuers = TokenIssuerSection.Compile(document, errors);
        var listeners = ListenerSection.Compile(document, errors, watched, time.GetUtcNow(), localIdentities, tokenIssuers, workloadApi, federation);
        var credentialNames = document.Root.GetSection("credentials").GetChildren().Select(c => c.Key).ToList();
        // Databases first: a postgres-dynamic credential is built on its compiled database entry.
        var databaseBound = CredentialSection.DatabaseBound(document, catalog);
        var databases = DatabaseSection.Compile(document, errors, credentialNames, watched, databaseBound);
        var credentials = CredentialSection.Compile(document, errors, catalog, time, loggers, watched,
            new Databases.DatabaseCatalog(databases, [.. document.Root.GetSection("databases").GetChildren().Select(d => d.Key)]), classes, expansion.Stores);
        foreach (var store in expansion.Stores.Keys.Where(name => !document.Root.GetSection("credentials").GetChildren().Any(c => string.Equals(ConfigSections.Value(c, "store"), name, StringComparison.OrdinalIgnoreCase))))
        {
            errors.Warn("stores:" + store, "no credential uses this store", $"remove it, or point a credential at it with store: {store}");
        }
        var routeOwners = new Dictionary<string, Ownership>(StringComparer.OrdinalIgnoreCase);
        foreach (var route in document.Root.GetSection("ReverseProxy:Routes").GetChildren())
        {
            routeOwners[route.Key] = Ownership.Read(route.GetSection("Metadata"), errors);
        }
        var reverseProxy = await ReverseProxySection.CompileAsync(document, errors, yarpValidator, credentialNames);
        var clusterCertificates = ReverseProxySection.ClientCertificates(reverseProxy.Clusters, listeners, workloadApi, errors);
        var policy = PolicySection.Compile(document, errors, identities, reverseProxy.Routes, databases.Keys);
        var posture = PostureSection.Compile(document, errors);
        var decisionHook = DecisionHookSection.Compile(document, errors, [.. reverseProxy.Routes.Select(r => r.RouteId)]);
        var decisionLog = DecisionLogSection.Compile(document, errors);
        var metrics = MetricsSection.Compile(document, errors);
        var limits = LimitsSection.Compile(document, errors);
        var cache = CacheSection.Compile(document, errors, watched);
        var grants = GrantsSection.Compile(document, errors, redisConfigured: document.Root.GetSection("cache:redis").Exists());
        var approvals = ApprovalsSection.Compile(document, errors, policy);
        foreach (var route in reverseProxy.Routes)
        {
            if (route.Metadata?.GetValueOrDefault(ReverseProxySection.CredentialMetadataKey) is { Length: > 0 } bound && databaseBound.ContainsKey(bound))
            {
                errors.Add($"ReverseProxy:Routes:{route.RouteId}:Metadata:{ReverseProxySection.CredentialMetadataKey}", $"names credential '{bound}', which makes database roles for the PostgreSQL gateway",
                    "name it from a database's roles (databases.NAME.roles), not from an HTTP route");
            }
        }

        if (errors.HasErrors)
        {
            foreach (var credential in credentials.Values)
            {
                credential.Dispose();
            }
            return new ConfigCompilation(null, errors.Errors, errors.Warnings);
        }

        var frozenCredentials = credentials.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        var routeCredentials = new Dictionary<string, CredentialBinding>(StringComparer.OrdinalIgnoreCase);
        var routeSecurity = new Dictionary<string, RouteSecurity>(StringComparer.OrdinalIgnoreCase);
        var mcpRoutes = new Dictionary<string, McpRouteSettings>(StringComparer.OrdinalIgnoreCase);
        foreach (var route in reverseProxy.Routes)
        {
            // Already validated: errors would have ended the compilation above.
            var mcp = McpRouteSettings.Compile(route, "ReverseProxy:Routes:" + route.RouteId, errors);
            if (mcp is not null)
            {
                mcpRoutes[route.RouteId] = mcp;
            }
            CredentialBinding? binding = null;
            if (route.Metadata?.GetValueOrDefault(ReverseProxySection.CredentialMetadataKey) is { Length: > 0 } name)
            {
                routeCredentials[route.RouteId] = binding = frozenCredentials[name];
            }
            // An MCP server that echoes what it received must not hand the injected credential to the model: MCP routes mask by default.
            routeSecurity[route.RouteId] = ReverseProxySection.Security(route, mcp is not null || (binding?.Injector.RedactsResponsesByDefault ?? false));
        }
        var config = new ProxyConfig
        {
            FilePath = document.FilePath,
            Listeners = listeners,
            WorkloadApi = workloadApi,
            Federation = federation,
            BundleEndpoint = bundleEndpoint,
            LocalIdentities = localIdentities,
            Databases = databases,
            Policy = policy,
            Credentials = frozenCredentials,
            RouteCredentials = routeCredentials.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            RouteSecurity = routeSecurity.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            McpRoutes = mcpRoutes.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            Routes = reverseProxy.Routes,
            Clusters = reverseProxy.Clusters,
            ClusterCertificates = clusterCertificates.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            DecisionLog = decisionLog,
            Metrics = metrics,
            Limits = limits,
            Grants = grants,
            Approvals = approvals,
            Posture = posture,
            DecisionHook = decisionHook,
            IdentityNames = identities.GroupBy(i => i.Value.Text, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().Key, StringComparer.Ordinal),
            EffectiveConfig = EffectiveConfig.Render(document, catalog),
            Cache = cache,
            Stores = expansion.Stores,
            Classes = classes,
            Inventory = inventory,
            IdentityOwners = identityOwners,
            RouteOwners = routeOwners,
            WatchedFiles = watched.Distinct().ToList(),
            Warnings = errors.Warnings,
        };
        return new ConfigCompilation(config, [], errors.Warnings);
    }
}
