namespace SecretlessProxy.Identity;

/// <summary>
/// Who is calling, as the platform vouched for it: the SPIFFE ID, how it was attested, until when the proof holds,
/// and the facts the attestor saw (for an X.509-SVID: issuer and serial; for a Unix peer: uid, gid, pid,
/// executable; for a JWT: issuer, subject). Policy, grants, audit and the credential broker take this value.
/// </summary>
public sealed class WorkloadIdentity(SpiffeId spiffeId, DateTimeOffset expiresAt, AttestationKind kind = AttestationKind.X509Svid, IReadOnlyDictionary<string, string>? facts = null)
{
    private static readonly IReadOnlyDictionary<string, string> NoFacts = new Dictionary<string, string>();

    public SpiffeId SpiffeId { get; } = spiffeId;

    /// <summary>When the proof the identity came from expires (the SVID's notAfter, the token's exp).</summary>
    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    public AttestationKind Kind { get; } = kind;

    /// <summary>What the attestor saw, by name (never key material).</summary>
    public IReadOnlyDictionary<string, string> Facts { get; } = facts ?? NoFacts;

    public override string ToString() => SpiffeId.Value;
}
