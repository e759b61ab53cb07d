using System.Net.Security;
using System.Security.Cryptography;
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

    /// <summary>
    /// Reports on <paramref name="key"/> a CA file that does not exist or holds no PEM certificate: the handler reads
    /// it when the provider is built. Not checked offline (the file is mounted at run time).
    /// </summary>
    public static void Validate(PluginConfig config, string key)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Offline || config.Get(key) is not { } value)
        {
            return;
        }
        var path = config.ResolvePath(value);
        const string Fix = "point it at a PEM file of the CA certificates the server's certificate chains to (relative paths start at the config file's folder), or leave it out to trust the system roots";
        try
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(path);
            if (roots.Count == 0)
            {
                config.Error(key, $"the file '{path}' holds no PEM certificate", Fix);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            config.Error(key, ex is FileNotFoundException or DirectoryNotFoundException ? $"the file '{path}' does not exist" : $"the file '{path}' cannot be read as PEM certificates ({ex.GetType().Name})", Fix);
        }
    }
}
