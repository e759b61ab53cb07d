using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Databases;

/// <summary>The TLS client options of a gateway's upstream login, per the database entry's <c>sslmode</c>.</summary>
internal static class UpstreamTls
{
    /// <summary>
    /// TLS 1.2 or 1.3 to <see cref="DatabaseSettings.ServerName"/>; <c>verify-full</c> verifies the chain against the
    /// entry's <c>caFile</c> only (no system roots, no downloads) and the name; <c>require</c> encrypts without verifying.
    /// </summary>
    public static SslClientAuthenticationOptions ClientOptions(DatabaseSettings db)
    {
        ArgumentNullException.ThrowIfNull(db);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = db.ServerName,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        if (db.SslMode == UpstreamSslMode.VerifyFull)
        {
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
                DisableCertificateDownloads = true,
            };
            policy.CustomTrustStore.AddRange(db.CaCertificates!);
            options.CertificateChainPolicy = policy;
        }
        else
        {
#pragma warning disable CA5359 // sslmode=require encrypts without verifying, as libpq's require and mysql's REQUIRED do; verify-full is the mode that verifies.
            options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        return options;
    }
}
