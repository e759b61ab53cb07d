using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Diagnostics;
using Prometheus;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.Credentials;
using SecretlessProxy.Redis;

namespace SecretlessProxy.Metrics;

/// <summary>
/// The proxy's Prometheus metrics, in a registry of its own (served at the admin listener's <c>/metrics</c>).
/// Labels are bounded by the config (route, rule, credential, provider and listener names) or by fixed code
/// lists (outcome, stage, layer, reason); SPIFFE IDs only with <c>metrics.identityLabels: true</c>. The request
/// path resolves label children from caches keyed by the config's own strings, so recording allocates nothing.
/// Gauges that mirror state (Redis, circuit breakers, queue, grants, reloads) are read at scrape time.
/// </summary>
public sealed class ProxyMetrics : ICredentialObserver
{
    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] OverheadBuckets = Histogram.ExponentialBuckets(0.000001, 2, 20);

    private readonly Histogram _requestDuration;
    private readonly Histogram _upstreamLatency;
    private readonly Counter _decisions;
    private readonly Counter _byIdentity;
    private readonly Counter _byAttestation;
    private readonly Counter _tokenFetches;
    private readonly Histogram _tokenFetchDuration;
    private readonly Counter _revocations;
    private readonly Counter _tlsFailures;
    private readonly Gauge _circuitState;
    private readonly Gauge _redisAvailable;
    private readonly Counter _auditDropped;
    private readonly Counter _auditWritten;
    private readonly Gauge _auditQueue;
    private readonly Gauge _activeGrants;
    private readonly Counter _reloads;
    private readonly Counter _federationRefreshes;
    private readonly Counter _redactions;
    private readonly Counter _mcpMessages;
    private static readonly FrozenSet<string> McpMethods = new[]
    {
        "initialize", "ping", "tools/list", "tools/call", "resources/list", "resources/templates/list", "resources/read", "prompts/list", "prompts/get",
        "notifications/initialized", "notifications/cancelled", "notifications/progress", "completion/complete", "logging/setLevel", "resources/subscribe", "resources/unsubscribe",
    }.ToFrozenSet(StringComparer.Ordinal);
    private readonly Gauge _bufferedBodies;
    private readonly Gauge _bufferedBodiesLimit;
    private readonly Gauge _generation;
    private readonly Counter.Child _memoryHit;
    private readonly Counter.Child _memoryMiss;
    private readonly Counter.Child _redisHit;
    private readonly Counter.Child _redisMiss;
    private readonly Histogram.Child _identityStage;
    private readonly Histogram.Child _policyStage;
    private readonly Histogram.Child _credentialStage;
    private readonly Histogram.Child _injectionStage;
    private readonly Histogram.Child _totalOverhead;
    private readonly ConcurrentDictionary<(string, string), Histogram.Child> _durationChildren = new();
    private readonly ConcurrentDictionary<string, Histogram.Child> _upstreamChildren = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string, string), Counter.Child> _decisionChildren = new();
    private readonly ConcurrentDictionary<(string, string), Counter.Child> _attestationChildren = new();
    private volatile MetricsSettings _settings = MetricsSettings.Default;

    public ProxyMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        // No exemplars: they would read the trace context on every observation (measured on the hot path), and the
        // audit trail already carries each request's trace id.
        factory.ExemplarBehavior = Prometheus.ExemplarBehavior.NoExemplars();
        DotNetStats.Register(Registry);
        _requestDuration = factory.CreateHistogram("secretless_request_duration_seconds",
            "Time from a request's arrival until its response completed, by route and outcome (allow, deny, error).",
            ["route", "outcome"], new HistogramConfiguration { Buckets = LatencyBuckets });
        var overhead = factory.CreateHistogram("secretless_proxy_overhead_seconds",
            "Time the proxy adds, by stage: identity (SVID lookup and path guard), policy, credential (cache or provider), injection; total = arrival until the request left for the upstream.",
            ["stage"], new HistogramConfiguration { Buckets = OverheadBuckets });
        _identityStage = overhead.WithLabels("identity");
        _policyStage = overhead.WithLabels("policy");
        _credentialStage = overhead.WithLabels("credential");
        _injectionStage = overhead.WithLabels("injection");
        _totalOverhead = overhead.WithLabels("total");
        _upstreamLatency = factory.CreateHistogram("secretless_upstream_latency_seconds",
            "Time from forwarding a request until the upstream's response headers arrived, by route.",
            ["route"], new HistogramConfiguration { Buckets = LatencyBuckets });
        _decisions = factory.CreateCounter("secretless_policy_decisions_total",
            "Policy decisions by the rule that decided ('none' when no rule matched) and outcome (allow, deny).", ["rule", "outcome"]);
        _byAttestation = factory.CreateCounter("secretless_requests_by_attestation_total",
            "Proxied requests by how their listener attests callers (x509-svid, unix-peer, loopback) and outcome (allow, deny, error).", ["attestation", "outcome"]);
        _byIdentity = factory.CreateCounter("secretless_requests_by_identity_total",
            "Requests by caller SPIFFE ID, route and outcome (only with metrics.identityLabels: true).", ["identity", "route", "outcome"]);
        var lookups = factory.CreateCounter("secretless_credential_cache_lookups_total",
            "Credential cache lookups by layer (l1 = in memory, redis) and result (hit, miss).", ["layer", "result"]);
        _memoryHit = lookups.WithLabels("l1", "hit");
        _memoryMiss = lookups.WithLabels("l1", "miss");
        _redisHit = lookups.WithLabels("redis", "hit");
        _redisMiss = lookups.WithLabels("redis", "miss");
        _tokenFetches = factory.CreateCounter("secretless_token_fetches_total",
            "Credentials requested from providers, by provider and result (issued, refreshed, refused, outage).", ["provider", "result"]);
        _tokenFetchDuration = factory.CreateHistogram("secretless_token_fetch_duration_seconds",
            "Time a provider took to issue a credential (or fail), by provider.", ["provider"], new HistogramConfiguration { Buckets = LatencyBuckets });
        _revocations = factory.CreateCounter("secretless_credential_revocations_total", "Credential revocations on this replica, by credential.", ["credential"]);
        _tlsFailures = factory.CreateCounter("secretless_tls_handshake_failures_total",
            "Connections whose TLS handshake failed or whose client certificate was refused as an X.509-SVID, by listener and reason.", ["listener", "reason"]);
        _circuitState = factory.CreateGauge("secretless_circuit_breaker_state",
            "State of a credential's token endpoint circuit breaker: 0 closed, 1 half-open, 2 open, 3 isolated.", ["credential"]);
        _redisAvailable = factory.CreateGauge("secretless_redis_available", "1 when the Redis cache is configured and connected, 0 when it is configured but unreachable, absent when not configured.",
            new GaugeConfiguration { SuppressInitialValue = true });
        _auditDropped = factory.CreateCounter("secretless_audit_records_dropped_total", "Audit records dropped because the sink could not keep up (or failed).");
        _auditWritten = factory.CreateCounter("secretless_audit_records_written_total", "Audit records handed to the sink.");
        _auditQueue = factory.CreateGauge("secretless_audit_queue_length", "Audit records waiting for the sink.");
        _activeGrants = factory.CreateGauge("secretless_active_grants", "Time-boxed access grants that are live now.");
        _bufferedBodies = factory.CreateGauge("secretless_buffered_request_body_bytes", "Request-body bytes held in memory for signing, across requests.");
        _bufferedBodiesLimit = factory.CreateGauge("secretless_buffered_request_body_limit_bytes", "The most request-body bytes the proxy holds for signing at once (limits.maxBufferedBodyBytes).");
        _redactions = factory.CreateCounter("secretless_response_redactions_total",
            "Copies of an injected credential masked in upstream responses, by route and where (headers, body).", ["route", "where"]);
        _mcpMessages = factory.CreateCounter("secretless_mcp_requests_total",
            "MCP POSTs on MCP routes, by route, the MCP method of the deciding message ('other' outside the specification, 'none' when there was none) and outcome (allow, deny, error).", ["route", "method", "outcome"]);
        _reloads = factory.CreateCounter("secretless_config_reloads_total", "Config reloads by result (applied, refused).", ["result"]);
        _federationRefreshes = factory.CreateCounter("secretless_federation_bundle_refreshes_total",
            "Fetches of federated trust domains' bundles from their bundle endpoints, by trust domain and result (ok, failed).", ["trust_domain", "result"]);
        _generation = factory.CreateGauge("secretless_config_generation", "How many configs have been applied since start.");
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Credentials requested from providers on this replica since start: (provider, result, count), for the console.</summary>
    public IReadOnlyList<(string Provider, string Result, double Count)> TokenFetchCounts() =>
        [.. _tokenFetches.GetAllLabelValues().Select(l => (l[0], l[1], _tokenFetches.WithLabels(l).Value)).OrderBy(t => t.Item1, StringComparer.Ordinal).ThenBy(t => t.Item2, StringComparer.Ordinal)];

    /// <summary>The <c>metrics</c> settings of the config in force (applied on every reload).</summary>
    public void Configure(MetricsSettings settings) => _settings = settings ?? MetricsSettings.Default;

    /// <summary>
    /// Reads the state-mirroring gauges at each scrape: the credentials of the config in force, the config's
    /// generation and refusals, Redis, the audit queue, grants and buffered bodies.
    /// </summary>
    public void CollectFrom(Func<IEnumerable<CredentialBinding>> credentials, Func<(long Generation, long Refusals)> reloads, RedisConnection redis, DecisionLog audit, Func<int> activeGrants, Injection.BodyBufferBudget? bodies = null)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(reloads);
        ArgumentNullException.ThrowIfNull(redis);
        ArgumentNullException.ThrowIfNull(audit);
        ArgumentNullException.ThrowIfNull(activeGrants);
        Registry.AddBeforeCollectCallback(() =>
        {
            foreach (var binding in credentials())
            {
                if (binding.Provider is IReportsCircuitState circuit)
                {
                    _circuitState.WithLabels(binding.Name).Set((int)circuit.CircuitState);
                }
            }
            if (redis.IsConfigured)
            {
                _redisAvailable.Set(redis.IsAvailable ? 1 : 0);
            }
            else
            {
                _redisAvailable.Unpublish();
            }
            _auditDropped.IncTo(audit.Dropped);
            _auditWritten.IncTo(audit.Written);
            _auditQueue.Set(audit.Queued);
            _activeGrants.Set(activeGrants());
            if (bodies is not null)
            {
                _bufferedBodies.Set(bodies.InUse);
                _bufferedBodiesLimit.Set(bodies.Limit);
            }
            var (generation, refusals) = reloads();
            _reloads.WithLabels("applied").IncTo(Math.Max(0, generation - 1));
            _reloads.WithLabels("refused").IncTo(refusals);
            _generation.Set(generation);
        });
    }

    /// <summary>Records a completed request: its duration, the proxy's stages, the upstream's latency and the decision.</summary>
    public void RequestCompleted(DecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var route = record.Route ?? "none";
        _durationChildren.GetOrAdd((route, record.Outcome), static (key, histogram) => histogram.WithLabels(key.Item1, key.Item2), _requestDuration)
            .Observe(record.Duration.TotalSeconds);
        if (record.IdentityDoneAt != 0)
        {
            _identityStage.Observe(Seconds(record.IdentityDoneAt - record.StartedAt));
        }
        if (record.PolicyOutcome is { } decided)
        {
            _policyStage.Observe(Seconds(record.PolicyTicks));
            _decisionChildren.GetOrAdd((record.Rule ?? "none", decided),
                static (key, counter) => counter.WithLabels(key.Item1, key.Item2), _decisions).Inc();
        }
        if (record.CredentialTicks != 0)
        {
            _credentialStage.Observe(Seconds(record.CredentialTicks));
        }
        if (record.UpstreamSentAt != 0)
        {
            _injectionStage.Observe(Seconds(record.InjectionTicks));
            _totalOverhead.Observe(Seconds(record.UpstreamSentAt - record.StartedAt));
            if (record.UpstreamLatency is { } latency)
            {
                _upstreamChildren.GetOrAdd(route, static (key, histogram) => histogram.WithLabels(key), _upstreamLatency).Observe(latency.TotalSeconds);
            }
        }
        if (record.RedactedInHeaders > 0)
        {
            _redactions.WithLabels(route, "headers").Inc(record.RedactedInHeaders);
        }
        if (record.RedactedInBody > 0)
        {
            _redactions.WithLabels(route, "body").Inc(record.RedactedInBody);
        }
        if (record.Mcp is { } mcp)
        {
            var method = mcp.Method is { } m && McpMethods.Contains(m) ? m : mcp.Method is null ? "none" : "other";
            _mcpMessages.WithLabels(route, method, record.Outcome).Inc();
        }
        if (record.ListenerAttestation is { } attestation)
        {
            _attestationChildren.GetOrAdd((attestation, record.Outcome),
                static (key, counter) => counter.WithLabels(key.Item1, key.Item2), _byAttestation).Inc();
        }
        if (_settings.IdentityLabels && record.Identity is { } identity)
        {
            _byIdentity.WithLabels(identity, route, record.Outcome).Inc();
        }
    }

    /// <summary>A client certificate refused as an X.509-SVID (reason code), or a handshake that did not complete.</summary>
    /// <summary>One fetch of a federated trust domain's bundle (spiffe.federation).</summary>
    public void FederationRefreshed(string trustDomain, bool ok) => _federationRefreshes.WithLabels(trustDomain, ok ? "ok" : "failed").Inc();

    public void TlsFailed(string listener, string reason) => _tlsFailures.WithLabels(listener, reason).Inc();

    public void CacheLookup(CacheLayer layer, bool hit) =>
        (layer == CacheLayer.Memory ? hit ? _memoryHit : _memoryMiss : hit ? _redisHit : _redisMiss).Inc();

    public void Issued(CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(binding);
        _tokenFetches.WithLabels(binding.ProviderName, refresh ? "refreshed" : "issued").Inc();
        _tokenFetchDuration.WithLabels(binding.ProviderName).Observe(elapsed.TotalSeconds);
    }

    public void FetchFailed(CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(binding);
        _tokenFetches.WithLabels(binding.ProviderName, outage ? "outage" : "refused").Inc();
        _tokenFetchDuration.WithLabels(binding.ProviderName).Observe(elapsed.TotalSeconds);
    }

    public void Revoked(CredentialBinding binding, string? workloadId, bool wasCached)
    {
        ArgumentNullException.ThrowIfNull(binding);
        _revocations.WithLabels(binding.Name).Inc();
    }

    private static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
}
