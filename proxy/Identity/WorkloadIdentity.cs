namespace SecretlessProxy.Identity;

/// <summary>Who is calling: the SPIFFE ID proven by the caller's X.509-SVID.</summary>
public sealed class WorkloadIdentity(SpiffeId spiffeId, DateTimeOffset expiresAt)
{
    public SpiffeId SpiffeId { get; } = spiffeId;

    /// <summary>When the SVID the identity came from expires.</summary>
    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    public override string ToString() => SpiffeId.Value;
}
