using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Injection;

/// <summary>
/// The CAs upstreams may use besides the system roots (the forward-proxy listeners' <c>upstreamCaFile</c>). An
/// upstream certificate must verify against the system roots or one of these, with the host name matching; nothing
/// is ever accepted unverified.
/// </summary>
public sealed class UpstreamTrust
{
    private volatile X509Certificate2Collection _roots = [];

    public void Configure(IEnumerable<X509Certificate2Collection> bundles)
    {
        ArgumentNullException.ThrowIfNull(bundles);
        var roots = new X509Certificate2Collection();
        foreach (var bundle in bundles)
        {
            roots.AddRange(bundle);
        }
        _roots = roots;
    }

    public bool Validate(object sender, System.Security.Cryptography.X509Certificates.X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }
        var roots = _roots;
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || roots.Count == 0 || certificate is not X509Certificate2 leaf)
        {
            return false;
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.DisableCertificateDownloads = true;
        custom.ChainPolicy.CustomTrustStore.AddRange(roots);
        custom.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1"));
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, leaf))
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }
        }
        return custom.Build(leaf);
    }
}
