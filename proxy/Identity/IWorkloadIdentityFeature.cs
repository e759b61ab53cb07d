namespace SecretlessProxy.Identity;

/// <summary>
/// What an attestor keeps on a connection: the caller's attestation, established once where the platform vouched
/// for it (the TLS handshake, the socket's peer credentials, the loopback bind) and confirmed per request against
/// the request's config. Every request on the connection reads it; nothing re-parses the proof.
/// </summary>
public interface IWorkloadIdentityFeature
{
    /// <summary>The attestation as last confirmed.</summary>
    Attestation Verification { get; }

    /// <summary>
    /// The attestation under <paramref name="scope"/>: confirmed again when the config or the time may have changed
    /// it (at most once per reload, or once when the proof expires). <paramref name="lapsed"/> is set when a
    /// connection that had an identity no longer has one (the caller must reconnect).
    /// </summary>
    Attestation Current(in AttestationScope scope, out bool lapsed);
}
