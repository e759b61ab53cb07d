namespace SecretlessProxy.Approvals;

/// <summary>Where a grant request stands.</summary>
public enum ApprovalStatus
{
    Pending,
    Approved,
    Denied,
    Expired,
}

/// <summary>
/// A workload's request for a grant (<c>POST /grants/requests</c> on its own listener): who asks (its attested
/// identity), for which route or credential, how long and why; then who decided, when, and the grant it became.
/// Immutable: a decision makes a new copy. Holds no secret.
/// </summary>
public sealed record ApprovalRequest
{
    public required string Id { get; init; }

    /// <summary>The requester's SPIFFE ID, as its listener attested it.</summary>
    public required string Requester { get; init; }

    /// <summary>How the requester was attested (<c>x509-svid</c>, <c>unix-peer</c>, <c>loopback</c>).</summary>
    public required string Attestation { get; init; }

    /// <summary>The requester's uid when a Unix socket listener attested it: an admin socket caller with that uid is the requester too.</summary>
    public uint? RequesterUid { get; init; }

    public string? Route { get; init; }

    public string? Credential { get; init; }

    public required TimeSpan Duration { get; init; }

    public required string Reason { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>When the request expires if nobody answers it.</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>The rules whose approvers may answer (every one of them must list the approver).</summary>
    public required IReadOnlyList<string> Rules { get; init; }

    public ApprovalStatus Status { get; init; } = ApprovalStatus.Pending;

    public string? DecidedBy { get; init; }

    /// <summary><c>x509-svid</c>, <c>admin-socket</c> or <c>oidc</c>.</summary>
    public string? DecidedByKind { get; init; }

    public DateTimeOffset? DecidedAt { get; init; }

    /// <summary>The approver's note, or the reason of a denial.</summary>
    public string? DecisionReason { get; init; }

    /// <summary>The grant an approval created.</summary>
    public string? GrantId { get; init; }

    [System.Text.Json.Serialization.JsonIgnore]
    public string StatusName => Status.ToString().ToLowerInvariant();

    /// <summary>What the request is for, as a person reads it: <c>route 'deploy'</c> or <c>credential 'db'</c>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Target => Route is not null ? $"route '{Route}'" : $"credential '{Credential}'";

    /// <summary>The request as audit fields (names and values only).</summary>
    public IReadOnlyList<KeyValuePair<string, object?>> AuditFields() =>
    [
        new("request", Id),
        new("identity", Requester),
        new("attestation", Attestation),
        new("route", Route),
        new("credential", Credential),
        new("duration", Duration.ToString("c", System.Globalization.CultureInfo.InvariantCulture)),
        new("reason", Reason),
        new("rules", Rules),
        new("expiresAt", ExpiresAt),
    ];
}
