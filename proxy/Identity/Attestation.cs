namespace SecretlessProxy.Identity;

/// <summary>The outcome of attesting a caller (a client certificate, a Unix peer, a loopback bind): an identity, or a stable reason code and a short detail.</summary>
public sealed class Attestation
{
    private Attestation(WorkloadIdentity? identity, string? reason, string? detail)
    {
        Identity = identity;
        Reason = reason;
        Detail = detail;
    }

    public WorkloadIdentity? Identity { get; }

    /// <summary>A stable code such as <c>certificate_expired</c>; null when verified.</summary>
    public string? Reason { get; }

    /// <summary>A short human explanation (never key material).</summary>
    public string? Detail { get; }

    public static Attestation Verified(WorkloadIdentity identity) => new(identity, null, null);

    public static Attestation Refused(string reason, string detail) => new(null, reason, detail);
}
