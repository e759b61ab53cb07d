using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Listeners;

/// <summary>A listener's server certificate (with its chain) and the trust bundles client SVIDs are checked against.</summary>
public sealed class TlsMaterial(SslStreamCertificateContext certificate, DateTimeOffset certificateNotAfter, TrustBundleSet bundles)
{
    public SslStreamCertificateContext Certificate { get; } = certificate;

    public DateTimeOffset CertificateNotAfter { get; } = certificateNotAfter;

    public TrustBundleSet Bundles { get; } = bundles;

    /// <summary>Loads a PEM certificate (optionally followed by its intermediates) and its PEM private key.</summary>
    public static (SslStreamCertificateContext Context, DateTimeOffset NotAfter) LoadServerCertificate(string certPath, string keyPath)
    {
        X509Certificate2 leaf;
        try
        {
            using var ephemeral = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            // Re-import so the private key is usable by the TLS stack on every platform.
            leaf = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException ex)
        {
            throw new InvalidDataException($"cannot load the certificate '{certPath}' with key '{keyPath}': {ex.Message}", ex);
        }
        if (!leaf.HasPrivateKey)
        {
            throw new InvalidDataException($"the key '{keyPath}' does not match the certificate '{certPath}'");
        }
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certPath);
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            intermediates.Add(all[i]);
        }
        var context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
        return (context, new DateTimeOffset(leaf.NotAfter.ToUniversalTime()));
    }
}
