using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Abstractions;

/// <summary>
/// The HTTP handler store clients use: pooled connections, no cookies or redirects, and, when a CA file is given,
/// server certificates trusted only when they chain to a certificate in it (a private CA, a test CA).
/// </summary>
public static class TrustedCaHandler
{
    /// <summary>A handler trusting <paramref name="caFile"/> (PEM, one or more certificates) instead of the system roots; the system roots when null.</summary>
    public static SocketsHttpHandler Create(string? caFile)
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), UseCookies = false, AllowAutoRedirect = false };
        if (caFile is not null)
        {
            var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(caFile);
            trust.CustomTrustStore.AddRange(roots);
            handler.SslOptions = new SslClientAuthenticationOptions { CertificateChainPolicy = trust };
        }
        return handler;
    }
}
