namespace SecretlessProxy.Grants;

/// <summary>
/// A time-boxed approval: <see cref="Identity"/> may use <see cref="Route"/> (or every route that injects
/// <see cref="Credential"/>) from <see cref="From"/> until <see cref="Until"/>, where a policy rule requires a grant.
/// Who approved it and why are kept for the audit trail.
/// </summary>
public sealed record Grant
{
    public required string Id { get; init; }

    /// <summary>The exact SPIFFE ID the grant is for.</summary>
    public required string Identity { get; init; }

    /// <summary>The route the grant opens (exactly one of route and credential).</summary>
    public string? Route { get; init; }

    /// <summary>The credential whose routes the grant opens.</summary>
    public string? Credential { get; init; }

    public required DateTimeOffset From { get; init; }

    public required DateTimeOffset Until { get; init; }

    public required string Approver { get; init; }

    /// <summary>Why: a ticket or change number and/or a sentence.</summary>
    public required string Reason { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>The admin caller's SPIFFE ID when the admin API is on mutual TLS.</summary>
    public string? CreatedBy { get; init; }

    public bool IsLive(DateTimeOffset now) => From <= now && now < Until;

    /// <summary>The grant as audit fields (names and values only: a grant holds no secret).</summary>
    public IReadOnlyList<KeyValuePair<string, object?>> AuditFields() =>
    [
        new("grant", Id),
        new("identity", Identity),
        new("route", Route),
        new("credential", Credential),
        new("from", From),
        new("until", Until),
        new("approver", Approver),
        new("reason", Reason),
        new("createdBy", CreatedBy),
    ];
}
