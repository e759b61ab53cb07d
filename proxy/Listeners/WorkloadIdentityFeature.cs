using SecretlessProxy.Identity;

namespace SecretlessProxy.Listeners;

internal sealed class WorkloadIdentityFeature : IWorkloadIdentityFeature
{
    private static readonly SvidVerification NoCertificate =
        SvidVerification.Refused(SvidRefusal.NoCertificate, "no client certificate was presented; present your X.509-SVID");

    public SvidVerification Verification { get; set; } = NoCertificate;
}
