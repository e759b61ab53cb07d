namespace SecretlessProxy.PolicyChecks;

/// <summary>
/// A request to decide offline (<c>explain</c>, one case of <c>test</c>): who (a SPIFFE ID or a name under
/// <c>identities</c>), what (method and path, or a database role), optionally which route and host, when, with which
/// live grants (route ids) and how the caller was attested.
/// </summary>
public sealed record PolicyQuery(string Identity, string Method, string Path)
{
    /// <summary>The route (an HTTP route id or a database name); null means the one YARP would match.</summary>
    public string? Route { get; init; }

    /// <summary>The request's host, for routes that match on <c>Hosts</c>; null ignores hosts.</summary>
    public string? Host { get; init; }

    public DateTimeOffset At { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>Routes (or credentials) the caller holds a live grant for.</summary>
    public IReadOnlyList<string> Grants { get; init; } = [];

    public Identity.AttestationKind AttestedBy { get; init; } = SecretlessProxy.Identity.AttestationKind.X509Svid;
}
