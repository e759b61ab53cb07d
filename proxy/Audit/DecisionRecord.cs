using System.Diagnostics;
using System.Text.Json;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Audit;

/// <summary>
/// One allow/deny/error decision about one request, filled in by each stage as the request passes and written
/// once when the response has completed. Holds names and codes only, never a secret value, and the route's path
/// template rather than the request's path (no identifiers or query values). Stage timestamps feed the metrics.
/// </summary>
public sealed class DecisionRecord : AuditRecord, ICredentialSourceSink, Refusals.IRefusalSink
{
    public const string Allow = "allow";
    public const string Deny = "deny";
    public const string Error = "error";

    public DateTimeOffset Time { get; set; }

    public string? RequestId { get; set; }

    /// <summary>The W3C trace id (from the caller's <c>traceparent</c> or the current activity), or null.</summary>
    public string? TraceId { get; set; }

    public string? Listener { get; set; }

    /// <summary>The caller as its attestor named it, or null when it could not be established.</summary>
    public Identity.WorkloadIdentity? Caller { get; set; }

    /// <summary>The caller's SPIFFE ID (as written to the trail), or null.</summary>
    public string? Identity => Caller?.SpiffeId.Value;

    /// <summary>How the caller was attested (<c>x509-svid</c>, ...), or null when it was not.</summary>
    public string? Attestation => Caller is null ? null : SecretlessProxy.Identity.AttestationKinds.Name(Caller.Kind);

    /// <summary>How the listener attests its callers (<c>x509-svid</c>, <c>unix-peer</c>, <c>loopback</c>), whether or not this one was.</summary>
    public string? ListenerAttestation { get; set; }

    /// <summary>A Unix socket caller as the kernel described it (uid, gid, pid, executable), attested or not.</summary>
    public Identity.Unix.PeerProcess? Peer { get; set; }

    /// <summary>The route; for a database session, the database (as the client named it).</summary>
    public string? Route { get; set; }

    /// <summary><c>postgres</c> for a database session; null for HTTP.</summary>
    public string? Protocol { get; set; }

    /// <summary>How the gateway authenticated to the upstream database (<c>scram-sha-256-plus</c>, ...).</summary>
    public string? UpstreamAuth { get; set; }

    /// <summary>The SQLSTATE a refused database session got (<c>28000</c>, <c>08006</c>, ...).</summary>
    public string? SqlState { get; set; }

    public string? Method { get; set; }

    /// <summary>The matched route's path template (e.g. <c>/github/{**rest}</c>); null before routing.</summary>
    public string? PathTemplate { get; set; }

    /// <summary>The policy rule that decided, or null.</summary>
    public string? Rule { get; set; }

    /// <summary><c>allow</c>, <c>deny</c> or <c>error</c>.</summary>
    public string Outcome { get; set; } = Deny;

    /// <summary>A stable reason code (<c>allowed</c>, <c>no_rule_matched</c>, <c>certificate_expired</c>, ...).</summary>
    public string? Reason { get; set; }

    /// <summary>With a posture source: <c>fresh</c> when the caller's context facts were known, else <c>unknown</c>; null without one.</summary>
    public string? ContextFacts { get; set; }

    /// <summary>What the external decision hook answered (<c>allow</c>, <c>deny</c>, <c>error</c>), or null when it was not asked.</summary>
    public string? Hook { get; set; }

    /// <summary>The hook's reason (its <c>result.reason</c>, or why it could not be asked).</summary>
    public string? HookReason { get; set; }

    /// <summary>True when the hook's answer came from the decision cache.</summary>
    public bool HookCached { get; set; }

    /// <summary>The credential's name (never its value).</summary>
    public string? Credential { get; set; }

    /// <summary>The credential's provider (<c>file</c>, <c>oauth2-client-credentials</c>, ...).</summary>
    public string? CredentialProvider { get; set; }

    /// <summary>The store the credential came from (the name under <c>stores</c>, or <c>inline:PROVIDER@host</c>).</summary>
    public string? CredentialStore { get; set; }

    /// <summary>The lease id of the served credential (a Vault lease), never a secret; null when it has none.</summary>
    public string? CredentialLeaseId { get; set; }

    /// <summary>The store's version of the served secret (a KV version, a Secrets Manager VersionId), or null.</summary>
    public string? CredentialVersion { get; set; }

    /// <summary>True when the credential came from a static store (a long-lived secret: migration debt).</summary>
    public bool? CredentialStatic { get; set; }

    /// <summary>Where the credential came from: memory (L1), Redis (L2), a fresh issuance or a static store.</summary>
    public CredentialSource CredentialSource { get; set; }

    /// <summary>When the served credential expires (null for static secrets).</summary>
    public DateTimeOffset? CredentialExpiresAt { get; set; }

    public int Status { get; set; }

    /// <summary>The upstream's status code, when the request was forwarded and answered.</summary>
    public int? UpstreamStatus { get; set; }

    /// <summary>The <see cref="Protocol"/> of an opaque pass-through tunnel's record (route, CONNECT, authority, status; no credential).</summary>
    public const string TunnelProtocol = "tunnel";

    /// <summary>Bytes the client sent through an opaque tunnel (pass-through CONNECT), when it closed.</summary>
    public long? BytesUp { get; set; }

    /// <summary>Bytes the upstream sent back through an opaque tunnel.</summary>
    public long? BytesDown { get; set; }

    /// <summary>How many copies of the injected credential were masked in the response's link headers.</summary>
    public int RedactedInHeaders { get; set; }

    /// <summary>How many copies of the injected credential were masked in the response body.</summary>
    public int RedactedInBody { get; set; }

    /// <summary>On an MCP route, the MCP messages of the request (null elsewhere and for GET/DELETE).</summary>
    public McpExchange? Mcp { get; set; }

    // Stage timestamps (Stopwatch ticks; 0 = not reached). Not written: the metrics read them.
    internal long StartedAt;
    internal long IdentityDoneAt;
    internal long PolicyTicks;

    /// <summary>What the policy decided (allow or deny), before later stages could turn the outcome into an error.</summary>
    internal string? PolicyOutcome;
    internal long CredentialTicks;
    internal long InjectionTicks;
    internal long UpstreamSentAt;
    internal long UpstreamAnsweredAt;
    internal long CompletedAt;

    /// <summary>From forwarding the request until the upstream's response headers arrived.</summary>
    public TimeSpan? UpstreamLatency => UpstreamSentAt != 0 && UpstreamAnsweredAt != 0 ? Stopwatch.GetElapsedTime(UpstreamSentAt, UpstreamAnsweredAt) : null;

    /// <summary>From the request's arrival until its response completed.</summary>
    public TimeSpan Duration => CompletedAt != 0 ? Stopwatch.GetElapsedTime(StartedAt, CompletedAt) : TimeSpan.Zero;

    void Refusals.IRefusalSink.Refused(Refusals.Refusal refusal)
    {
        Outcome = refusal.AuditOutcome;
        Reason = refusal.Reason;
    }

    void ICredentialSourceSink.Served(CredentialSource source, DateTimeOffset? expiresAt)
    {
        CredentialSource = source;
        CredentialExpiresAt = expiresAt;
    }

    public override void WriteTo(Utf8JsonWriter json) => DecisionLog.Format(json, this);

    internal static string? SourceName(CredentialSource source) => source switch
    {
        CredentialSource.Memory => "l1",
        CredentialSource.Redis => "redis",
        CredentialSource.Issued => "fresh",
        CredentialSource.Store => "store",
        _ => null,
    };

    internal static void WriteOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}
