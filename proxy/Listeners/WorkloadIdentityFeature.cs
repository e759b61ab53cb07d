using SecretlessProxy.Identity;

namespace SecretlessProxy.Listeners;

internal sealed class WorkloadIdentityFeature : IWorkloadIdentityFeature
{
    private static readonly SvidVerification NoCertificate =
        SvidVerification.Refused(SvidRefusal.NoCertificate, "no client certificate was presented; present your X.509-SVID");

    public SvidVerification Verification { get; set; } = NoCertificate;

    /// <summary>Set when the handshake got as far as the client certificate check (so a connection without it failed its handshake).</summary>
    public bool Checked { get; set; }
}
