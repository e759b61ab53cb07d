using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Identity;

/// <summary>
/// The X.509-SVID attestor, whole: at the TLS handshake it verifies the client certificate once
/// (<see cref="SvidVerifier"/>) and keeps the result on the connection (<see cref="SvidConnection"/>); for
/// each request it re-confirms a long-lived connection whose SVID has expired or whose listener's bundles changed.
/// The TLS layer accepts any certificate, so the caller gets a 401 naming the reason instead of a bare handshake
/// failure; no request on an unverified connection is ever forwarded.
/// </summary>
public static class X509SvidAttestor
{
    /// <summary>
    /// The server options of one handshake: the listener's current certificate and bundles, and a client-certificate
    /// callback that attests the caller into <paramref name="connection"/> (reporting a refusal through <paramref name="refused"/>).
    /// </summary>
    public static SslServerAuthenticationOptions HandshakeOptions(SvidConnection connection, SslStreamCertificateContext certificate,
        TrustBundleSet bundles, List<SslApplicationProtocol> protocols, object confirmedUnder, TimeProvider time, Action<Attestation> refused)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(bundles);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(refused);
        var chainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        chainPolicy.CustomTrustStore.AddRange(bundles.AllAuthorities);
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate,
            ClientCertificateRequired = true,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            CertificateChainPolicy = chainPolicy,
            ApplicationProtocols = protocols,
#pragma warning disable CA5359 // Deliberate: the TLS layer accepts the certificate; the verifier decides, and an unverified connection only ever gets 401.
            RemoteCertificateValidationCallback = (_, presented, chain, _) =>
            {
                var leaf = presented as X509Certificate2 ?? (presented is null ? null : X509CertificateLoader.LoadCertificate(presented.GetRawCertData()));
                var verification = SvidVerifier.Verify(leaf, chain?.ChainPolicy.ExtraStore, bundles, time.GetUtcNow());
                connection.Verification = verification;
                connection.Checked = true;
                if (verification.Identity is not null)
                {
                    // Kept so a long-lived connection is verified again when its SVID expires or the bundles change.
                    connection.Leaf = leaf;
                    connection.Bundles = bundles;
                    connection.ConfirmedUnder = confirmedUnder;
                    if (chain?.ChainPolicy.ExtraStore is { Count: > 0 } extra)
                    {
                        connection.Intermediates = [.. extra.Select(c => X509CertificateLoader.LoadCertificate(c.RawData))];
                    }
                }
                else
                {
                    refused(verification);
                }
                return true;
            },
#pragma warning restore CA5359
        };
    }

    /// <summary>
    /// The connection's attestation for a request under <paramref name="config"/> (the request's snapshot) at
    /// <paramref name="now"/>. A connection whose SVID has expired, or that was verified against bundles that have
    /// since changed, is verified again (at most once per reload, or once when it expires); unchanged bundles only
    /// confirm the earlier result. Live bundles (the Workload API) change without a reload: a new bundle set is
    /// compared the same way. <paramref name="lapsed"/> is set when a verified connection is no longer valid.
    /// </summary>
    public static Attestation Current(SvidConnection? feature, object config, TrustBundleSet? bundles, DateTimeOffset now, out bool lapsed)
    {
        lapsed = false;
        var verification = feature?.Verification;
        if (verification?.Identity is not { } verified || feature is not { } connection
            || (ReferenceEquals(connection.ConfirmedUnder, config) && ReferenceEquals(connection.Bundles, bundles) && now < verified.ExpiresAt))
        {
            return verification ?? SvidConnection.NoCertificate;
        }
        if (bundles is not null && connection.Bundles is not null && now < verified.ExpiresAt && bundles.Fingerprint == connection.Bundles.Fingerprint)
        {
            connection.ConfirmedUnder = config;
            connection.Bundles = bundles;
            return connection.Verification;
        }
        var again = SvidVerifier.Verify(connection.Leaf, connection.Intermediates, bundles ?? TrustBundleSet.Empty, now);
        connection.Verification = again;
        connection.Bundles = bundles;
        connection.ConfirmedUnder = config;
        lapsed = again.Identity is null;
        return again;
    }
}
