using System.Net.Security;

namespace SecretlessProxy.Identity;

/// <summary>
/// Where the proxy's own X.509-SVID and the trust bundles come from when they are not files: a live source (the SPIFFE
/// Workload API) that a background watcher keeps current, as go-spiffe's <c>x509svid.Source</c> and
/// <c>x509bundle.Source</c>. Readers never wait: each property is the latest value, or null until the first arrives.
/// </summary>
public interface IX509Source
{
    /// <summary>The current certificate (with its intermediates and private key), or null before the first SVID.</summary>
    SslStreamCertificateContext? Certificate { get; }

    /// <summary>The current bundles of every trust domain (own and federated), or null before the first update.</summary>
    TrustBundleSet? Bundles { get; }
}
