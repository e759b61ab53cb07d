using SecretlessProxy.Identity.Unix;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity;

/// <summary>
/// The Unix-peer attestor's state on one connection: the peer process as the kernel described it at accept (or why
/// it could not be attested), matched against the config's identities once per config.
/// </summary>
public sealed class UnixPeerConnection : IWorkloadIdentityFeature
{
    private object? _confirmedUnder;

    public UnixPeerConnection(PeerProcess? process, Attestation? refusal)
    {
        Process = process;
        Verification = refusal ?? Attestation.Refused(RefusalCatalog.UnknownLocalCaller.Reason, "not attested yet");
        Refusal = refusal;
    }

    /// <summary>The peer, or null when it could not be read (<see cref="Refusal"/> says why).</summary>
    public PeerProcess? Process { get; }

    /// <summary>Why the peer could not be attested at accept; null when it was read.</summary>
    public Attestation? Refusal { get; }

    public Attestation Verification { get; private set; }

    /// <summary>Reads the peer of an accepted Unix socket connection.</summary>
    public static UnixPeerConnection Accept(System.Net.Sockets.Socket? socket, PeerReadOptions options)
    {
        if (socket is null)
        {
            return new UnixPeerConnection(null, Attestation.Refused(RefusalCatalog.PeerCredentialsUnavailable.Reason, "the connection exposes no socket to read peer credentials from"));
        }
        var (process, refusal) = PeerReader.Read(socket, options);
        return new UnixPeerConnection(process, refusal);
    }

    public Attestation Current(in AttestationScope scope, out bool lapsed)
    {
        lapsed = false;
        if (Process is null || ReferenceEquals(_confirmedUnder, scope.Config))
        {
            return Verification;
        }
        var had = Verification.Identity is not null;
        var identity = scope.Identities.Match(Process);
        Verification = identity is null
            ? Attestation.Refused(RefusalCatalog.UnknownLocalCaller.Reason, $"no identity's unix selectors match this caller ({Process.Describe()})")
            : Attestation.Verified(new WorkloadIdentity(identity.SpiffeId, DateTimeOffset.MaxValue, AttestationKind.UnixPeer, Process.Facts()));
        _confirmedUnder = scope.Config;
        lapsed = had && identity is null;
        return Verification;
    }
}
