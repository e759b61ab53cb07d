using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Listeners;

/// <summary>
/// A listener's server certificate (with its chain) and the trust bundles client SVIDs are checked against: each read
/// from files (reloaded with the config) or from a live <see cref="IX509Source"/> (the SPIFFE Workload API), read anew
/// at every handshake so a rotated certificate or bundle applies to the next connection.
/// </summary>
public sealed class TlsMaterial
{
    private readonly SslStreamCertificateContext? _certificate;
    private readonly TrustBundleSet? _bundles;
    private readonly IX509Source? _live;
    private Overlaid? _overlaid;

    /// <summary>Both from files.</summary>
    public TlsMaterial(SslStreamCertificateContext certificate, TrustBundleSet bundles)
    {
        _certificate = certificate;
        _bundles = bundles;
    }

    /// <summary>What is null here comes from <paramref name="live"/>.</summary>
    public TlsMaterial(SslStreamCertificateContext? certificate, TrustBundleSet? bundles, IX509Source live)
    {
        _certificate = certificate;
        _bundles = bundles;
        _live = live;
    }

    /// <summary>The certificate to present now. Throws before a live source delivered its first SVID (the handshake fails; /readyz says why).</summary>
    public SslStreamCertificateContext Certificate => _certificate ?? _live?.Certificate
        ?? throw new InvalidOperationException("the SPIFFE Workload API has not delivered the proxy's X.509-SVID yet (see /readyz)");

    /// <summary>
    /// Federated trust domains' bundles (<c>spiffe.federation</c>), laid over the listener's own: each replaces a file or
    /// Workload API bundle of the same trust domain once it arrived.
    /// </summary>
    public IFederatedBundleSource? Federated { get; init; }

    /// <summary>The bundles to verify callers against now (empty before a live source delivered any: every caller is refused).</summary>
    public TrustBundleSet Bundles
    {
        get
        {
            var own = _bundles ?? _live?.Bundles ?? TrustBundleSet.Empty;
            if (Federated is null)
            {
                return own;
            }
            var federated = Federated.Current;
            // The same set object until either side changes, so a connection's re-confirmation stays a reference check.
            if (_overlaid is { } last && ReferenceEquals(last.Own, own) && ReferenceEquals(last.Federated, federated))
            {
                return last.Merged;
            }
            var merged = own.Overlay(federated);
            _overlaid = new Overlaid(own, federated, merged);
            return merged;
        }
    }

    /// <summary>True when the certificate comes from the Workload API.</summary>
    public bool LiveCertificate => _certificate is null;

    /// <summary>True when the bundles come from the Workload API.</summary>
    public bool LiveBundles => _bundles is null;

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

    private sealed record Overlaid(TrustBundleSet Own, TrustBundleSet Federated, TrustBundleSet Merged);
}
