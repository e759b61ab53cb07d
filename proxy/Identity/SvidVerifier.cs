using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity;

/// <summary>
/// Verifies a client certificate as an X.509-SVID: one URI SAN holding a valid, non-root SPIFFE ID; a leaf
/// (CA:FALSE, digitalSignature, no keyCertSign/cRLSign, clientAuth when an EKU is present) within validity;
/// chained, through the intermediates the client sent, to the bundle of the trust domain named in its own ID.
/// No system roots are ever used.
/// </summary>
public static class SvidVerifier
{
    private const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    public static Attestation Verify(
        X509Certificate2? leaf, X509Certificate2Collection? intermediates, TrustBundleSet bundles, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        if (leaf is null)
        {
            return Attestation.Refused(RefusalCatalog.NoCertificate.Reason, "no client certificate was presented; present your X.509-SVID");
        }

        var uris = UriSanReader.Read(leaf, out var sanError);
        if (uris is null)
        {
            return Attestation.Refused(RefusalCatalog.SanMalformed.Reason, sanError!);
        }
        if (uris.Count == 0)
        {
            return Attestation.Refused(RefusalCatalog.UriSanMissing.Reason, "the certificate has no URI SAN holding a SPIFFE ID");
        }
        if (uris.Count > 1)
        {
            return Attestation.Refused(RefusalCatalog.UriSanMultiple.Reason, $"the certificate has {uris.Count} URI SANs; an X.509-SVID has exactly one");
        }
        if (!SpiffeId.TryParse(uris[0], out var id, out var idError))
        {
            return Attestation.Refused(RefusalCatalog.SpiffeIdInvalid.Reason, $"the URI SAN is not a valid SPIFFE ID: {idError}");
        }
        if (id.IsRoot)
        {
            return Attestation.Refused(RefusalCatalog.SpiffeIdRootPath.Reason, "a workload SVID's SPIFFE ID must have a path");
        }

        var leafRefusal = CheckLeafExtensions(leaf);
        if (leafRefusal is not null)
        {
            return leafRefusal;
        }

        var notBefore = new DateTimeOffset(leaf.NotBefore.ToUniversalTime());
        var notAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime());
        if (now < notBefore)
        {
            return Attestation.Refused(RefusalCatalog.NotYetValid.Reason, $"the certificate is not valid before {notBefore:O}");
        }
        if (now > notAfter)
        {
            return Attestation.Refused(RefusalCatalog.Expired.Reason, $"the certificate expired at {notAfter:O}");
        }

        if (!bundles.TryGetBundle(id.TrustDomain, out var bundle))
        {
            return Attestation.Refused(RefusalCatalog.TrustDomainUnknown.Reason, $"no trust bundle is configured for trust domain '{id.TrustDomain}'");
        }

        var chainProblem = BuildChain(leaf, intermediates, bundle, now);
        if (chainProblem is not null)
        {
            return Attestation.Refused(RefusalCatalog.ChainUntrusted.Reason, $"the certificate does not chain to the bundle of '{id.TrustDomain}' ({chainProblem})");
        }

        return Attestation.Verified(new WorkloadIdentity(id, notAfter, AttestationKind.X509Svid, new Dictionary<string, string>
        {
            ["issuer"] = leaf.Issuer,
            ["serialNumber"] = leaf.SerialNumber,
            ["notAfter"] = notAfter.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        }));
    }

    private static Attestation? CheckLeafExtensions(X509Certificate2 leaf)
    {
        X509KeyUsageExtension? keyUsage = null;
        foreach (var extension in leaf.Extensions)
        {
            switch (extension)
            {
                case X509BasicConstraintsExtension { CertificateAuthority: true }:
                    return Attestation.Refused(RefusalCatalog.LeafIsCa.Reason, "the certificate is a CA (basicConstraints CA:TRUE); an X.509-SVID leaf must be CA:FALSE");
                case X509KeyUsageExtension ku:
                    keyUsage = ku;
                    break;
                case X509EnhancedKeyUsageExtension eku when !HasClientAuth(eku):
                    return Attestation.Refused(RefusalCatalog.EkuNoClientAuth.Reason, "the certificate's extended key usage does not include clientAuth");
            }
        }
        if (keyUsage is null)
        {
            return Attestation.Refused(RefusalCatalog.KeyUsageMissing.Reason, "the certificate has no key usage extension; an X.509-SVID leaf must set digitalSignature");
        }
        if ((keyUsage.KeyUsages & X509KeyUsageFlags.DigitalSignature) == 0)
        {
            return Attestation.Refused(RefusalCatalog.KeyUsageNoDigitalSignature.Reason, "the certificate's key usage lacks digitalSignature");
        }
        if ((keyUsage.KeyUsages & (X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign)) != 0)
        {
            return Attestation.Refused(RefusalCatalog.KeyUsageCaBits.Reason, "the certificate's key usage has keyCertSign or cRLSign, which a leaf must not have");
        }
        return null;
    }

    private static bool HasClientAuth(X509EnhancedKeyUsageExtension eku)
    {
        foreach (var oid in eku.EnhancedKeyUsages)
        {
            if (oid.Value == ClientAuthOid)
            {
                return true;
            }
        }
        return false;
    }

    private static string? BuildChain(X509Certificate2 leaf, X509Certificate2Collection? intermediates, X509Certificate2Collection bundle, DateTimeOffset now)
    {
        using var chain = new X509Chain();
        var policy = chain.ChainPolicy;
        policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        policy.CustomTrustStore.AddRange(bundle);
        policy.RevocationMode = X509RevocationMode.NoCheck;
        policy.DisableCertificateDownloads = true;
        policy.VerificationTime = now.UtcDateTime;
        policy.VerificationTimeIgnored = false;
        if (intermediates is not null)
        {
            foreach (var certificate in intermediates)
            {
                if (!certificate.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span))
                {
                    policy.ExtraStore.Add(certificate);
                }
            }
        }
        if (chain.Build(leaf))
        {
            return null;
        }
        var flags = X509ChainStatusFlags.NoError;
        foreach (var status in chain.ChainStatus)
        {
            flags |= status.Status;
        }
        return flags.ToString();
    }
}
