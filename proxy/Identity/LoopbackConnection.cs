using System.Net;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity;

/// <summary>
/// The loopback attestor on one connection: every caller of a loopback listener is the identity the listener is
/// bound to, because only processes of this host (this network namespace) can reach it. A peer that is not on
/// loopback (the listener was bound wider by mistake) is refused.
/// </summary>
public sealed class LoopbackConnection(bool peerOnLoopback, string peer) : IWorkloadIdentityFeature
{
    private static readonly Attestation NoIdentity = Attestation.Refused(RefusalCatalog.UnknownLocalCaller.Reason, "the listener is bound to no identity");

    public Attestation Verification { get; private set; } = peerOnLoopback ? NoIdentity
        : Attestation.Refused(RefusalCatalog.NotLoopback.Reason, $"this listener serves callers on this host only; the peer {peer} is not on loopback");

    public bool PeerOnLoopback { get; } = peerOnLoopback;

    public static LoopbackConnection Accept(EndPoint? remote) => remote switch
    {
        IPEndPoint ip => new LoopbackConnection(IsLoopback(ip.Address), ip.Address.ToString()),
        _ => new LoopbackConnection(false, remote?.ToString() ?? "unknown"),
    };

    public Attestation Current(in AttestationScope scope, out bool lapsed)
    {
        lapsed = false;
        if (!PeerOnLoopback)
        {
            return Verification;
        }
        var had = Verification.Identity is not null;
        var caller = scope.ListenerIdentity?.LoopbackCaller;
        if (!ReferenceEquals(caller, Verification.Identity))
        {
            Verification = caller is null ? NoIdentity : Attestation.Verified(caller);
        }
        lapsed = had && caller is null;
        return Verification;
    }

    private static bool IsLoopback(IPAddress address) => IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
