using System.Formats.Asn1;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Identity;
using SecretlessProxy.WorkloadApi.Protocol;

namespace SecretlessProxy.WorkloadApi;

/// <summary>Turns the Workload API's DER fields (concatenated certificates, a PKCS#8 key) into what the TLS stack and the verifier use.</summary>
internal static class X509SvidReader
{
    /// <summary>The server certificate context of an X.509-SVID (leaf with its key, intermediates) and the leaf's expiry.</summary>
    public static (SslStreamCertificateContext Context, SpiffeId Id, DateTimeOffset NotAfter) Read(X509SVID svid)
    {
        if (!SpiffeId.TryParse(svid.SpiffeId, out var id, out var error))
        {
            throw new InvalidDataException($"the Workload API sent an X.509-SVID with an invalid SPIFFE ID: {error}");
        }
        var chain = Certificates(svid.X509Svid.Span, "x509_svid");
        if (chain.Count == 0)
        {
            throw new InvalidDataException("the Workload API sent an X.509-SVID without a certificate");
        }
        var leaf = WithKey(chain[0], svid.X509SvidKey.Span);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++)
        {
            intermediates.Add(chain[i]);
        }
        var context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
        return (context, id, new DateTimeOffset(leaf.NotAfter.ToUniversalTime()));
    }

    /// <summary>The bundles of an update, keyed by trust domain name (the API keys them by the trust domain's SPIFFE ID).</summary>
    public static TrustBundleSet Bundles(IEnumerable<KeyValuePair<string, Google.Protobuf.ByteString>> bundles)
    {
        var result = new Dictionary<string, X509Certificate2Collection>(StringComparer.Ordinal);
        foreach (var (key, value) in bundles)
        {
            var domain = key.StartsWith(SpiffeId.Scheme, StringComparison.Ordinal) ? key[SpiffeId.Scheme.Length..].TrimEnd('/') : key;
            if (!SpiffeId.TryValidateTrustDomain(domain, out var error))
            {
                throw new InvalidDataException($"the Workload API sent a bundle for an invalid trust domain: {error}");
            }
            result[domain] = Certificates(value.Span, "bundle of " + domain);
        }
        return new TrustBundleSet(result);
    }

    /// <summary>Every certificate of concatenated DER certificates.</summary>
    private static X509Certificate2Collection Certificates(ReadOnlySpan<byte> der, string what)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            while (!der.IsEmpty)
            {
                AsnDecoder.ReadEncodedValue(der, AsnEncodingRules.DER, out _, out _, out var consumed);
                collection.Add(X509CertificateLoader.LoadCertificate(der[..consumed]));
                der = der[consumed..];
            }
        }
        catch (Exception ex) when (ex is AsnContentException or CryptographicException)
        {
            throw new InvalidDataException($"the Workload API sent a {what} that is not DER certificates ({ex.GetType().Name})", ex);
        }
        return collection;
    }

    private static X509Certificate2 WithKey(X509Certificate2 leaf, ReadOnlySpan<byte> pkcs8)
    {
        try
        {
            X509Certificate2 withKey;
            if (leaf.GetECDsaPublicKey() is { } ecPublic)
            {
                ecPublic.Dispose();
                using var ec = ECDsa.Create();
                ec.ImportPkcs8PrivateKey(pkcs8, out _);
                withKey = leaf.CopyWithPrivateKey(ec);
            }
            else
            {
                using var rsa = RSA.Create();
                rsa.ImportPkcs8PrivateKey(pkcs8, out _);
                withKey = leaf.CopyWithPrivateKey(rsa);
            }
            using (withKey)
            {
                // Re-imported so the key is usable by the TLS stack on every platform (as the file certificates are).
                return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
            }
        }
        catch (CryptographicException ex)
        {
            // The key's bytes never reach the message.
            throw new InvalidDataException("the Workload API sent an X.509-SVID whose private key is not an unencrypted PKCS#8 key matching the certificate", ex);
        }
    }
}
