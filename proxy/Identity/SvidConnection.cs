using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity;

/// <summary>What the X.509-SVID attestor keeps on a TLS connection: the verification and what it needs to verify again.</summary>
public sealed class SvidConnection : IWorkloadIdentityFeature
{
    /// <summary>The verification of a connection that presented no certificate.</summary>
    public static readonly Attestation NoCertificate =
        Attestation.Refused(RefusalCatalog.NoCertificate.Reason, "no client certificate was presented; present your X.509-SVID");

    public Attestation Verification { get; set; } = NoCertificate;

    /// <summary>Re-confirms a long-lived connection whose SVID expired or whose listener's bundles changed (<see cref="X509SvidAttestor.Current"/>).</summary>
    public Attestation Current(in AttestationScope scope, out bool lapsed) => X509SvidAttestor.Current(this, scope.Config, scope.Bundles, scope.Now, out lapsed);

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
