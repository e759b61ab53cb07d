namespace SecretlessProxy.Identity.Bearer;

/// <summary>
/// A request's caller as its bearer token named it: set on the request (not the connection), so the stages after
/// the entry read the token's identity, and the next request on the connection proves itself again.
/// </summary>
public sealed class BearerAttestation(Attestation verification) : IWorkloadIdentityFeature
{
    public Attestation Verification { get; } = verification;

    public Attestation Current(in AttestationScope scope, out bool lapsed)
    {
        lapsed = false;
        return Verification;
    }
}
