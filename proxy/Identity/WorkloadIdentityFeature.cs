using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity;

/// <summary>What the X.509-SVID attestor keeps on a TLS connection: the verification and what it needs to verify again.</summary>
public sealed class WorkloadIdentityFeature : IWorkloadIdentityFeature
{
    /// <summary>The verification of a connection that presented no certificate.</summary>
    public static readonly SvidVerification NoCertificate =
        SvidVerification.Refused(RefusalCatalog.NoCertificate.Reason, "no client certificate was presented; present your X.509-SVID");

    public SvidVerification Verification { get; set; } = NoCertificate;

    /// <summary>Set when the handshake got as far as the client certificate check (so a connection without it failed its handshake).</summary>
    public bool Checked { get; set; }

    /// <summary>The client's certificate and the intermediates it sent, kept to verify them again on a long-lived connection.</summary>
    public X509Certificate2? Leaf { get; set; }

    public X509Certificate2Collection? Intermediates { get; set; }

    /// <summary>The trust bundles the verification used.</summary>
    public TrustBundleSet? Bundles { get; set; }

    /// <summary>The config in force when the verification was last confirmed (a reload may change the bundles).</summary>
    public object? ConfirmedUnder { get; set; }
}
