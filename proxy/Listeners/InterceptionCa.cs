using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Listeners;

/// <summary>
/// The CA a forward-proxy listener mints its TLS interception leaves from: for each CONNECT host one ECDSA P-256
/// server certificate (that host as its only name, a day's lifetime), cached per host and minted again when half
/// its life is gone. The CA must be a CA (basic constraints, keyCertSign) with an ECDSA key matching its certificate.
/// </summary>
public sealed class InterceptionCa : IDisposable
{
    /// <summary>How long a minted leaf is valid.</summary>
    public static readonly TimeSpan LeafLifetime = TimeSpan.FromHours(24);

    private readonly ECDsa _key;
    private readonly ConcurrentDictionary<string, Lazy<(SslStreamCertificateContext Context, DateTimeOffset RenewAt)>> _leaves = new(StringComparer.OrdinalIgnoreCase);
    private readonly TimeProvider _time;

    private InterceptionCa(X509Certificate2 certificate, ECDsa key, TimeProvider time)
    {
        Certificate = certificate;
        _key = key;
        _time = time;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>How many leaves were minted (for tests and metrics).</summary>
    public int Minted => _minted;

    private int _minted;

    /// <summary>Loads the CA from PEM files. Throws <see cref="InvalidDataException"/> with a readable reason when they do not make a usable CA.</summary>
    public static InterceptionCa Load(string certPath, string keyPath, TimeProvider time)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(File.ReadAllText(certPath));
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"'{certPath}' holds no PEM certificate");
        }
        var basic = certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault();
        if (basic is not { CertificateAuthority: true })
        {
            certificate.Dispose();
            throw new InvalidDataException($"the certificate in '{certPath}' is not a CA (no basic constraints with CA:true)");
        }
        var usage = certificate.Extensions.OfType<X509KeyUsageExtension>().FirstOrDefault();
        if (usage is not null && (usage.KeyUsages & X509KeyUsageFlags.KeyCertSign) == 0)
        {
            certificate.Dispose();
            throw new InvalidDataException($"the CA certificate in '{certPath}' may not sign certificates (its key usage lacks keyCertSign)");
        }
        using var publicKey = certificate.GetECDsaPublicKey();
        if (publicKey is null)
        {
            certificate.Dispose();
            throw new InvalidDataException($"the CA certificate in '{certPath}' has no ECDSA key (create one with 'secretless-proxy dev-ca init')");
        }
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(keyPath));
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            certificate.Dispose();
            throw new InvalidDataException($"'{keyPath}' holds no PEM ECDSA private key");
        }
        if (!publicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            key.Dispose();
            certificate.Dispose();
            throw new InvalidDataException($"the key in '{keyPath}' does not belong to the CA certificate in '{certPath}'");
        }
        return new InterceptionCa(certificate, key, time);
    }

    /// <summary>The TLS server certificate for <paramref name="host"/> (a DNS name or an IP address), minted on first use.</summary>
    public SslStreamCertificateContext LeafFor(string host)
    {
        var now = _time.GetUtcNow();
        while (true)
        {
            var entry = _leaves.GetOrAdd(host, h => new Lazy<(SslStreamCertificateContext, DateTimeOffset)>(() => Mint(h)));
            var value = entry.Value;
            if (value.RenewAt > now)
            {
                return value.Context;
            }
            _leaves.TryRemove(new KeyValuePair<string, Lazy<(SslStreamCertificateContext, DateTimeOffset)>>(host, entry));
        }
    }

    /// <summary>Mints a leaf without the cache (the benchmark measures this; <see cref="LeafFor"/> is the way in).</summary>
    internal (SslStreamCertificateContext Context, DateTimeOffset RenewAt) Mint(string host)
    {
        var now = _time.GetUtcNow();
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + (IPAddress.TryParse(host, out _) ? "ip" : host).Replace(",", "", StringComparison.Ordinal)), leafKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var san = new SubjectAlternativeNameBuilder();
        if (IPAddress.TryParse(host, out var address))
        {
            san.AddIpAddress(address);
        }
        else
        {
            san.AddDnsName(host);
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var notBefore = now.AddMinutes(-5);
        var notAfter = now + LeafLifetime;
        if (notAfter > Certificate.NotAfter)
        {
            notAfter = new DateTimeOffset(Certificate.NotAfter.ToUniversalTime());
        }
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var signed = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), notBefore, notAfter, serial);
        using var withKey = signed.CopyWithPrivateKey(leafKey);
        // A PKCS#12 round trip gives the leaf a key SslStream can use on every platform.
        var leaf = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        Interlocked.Increment(ref _minted);
        var context = SslStreamCertificateContext.Create(leaf, [Certificate], offline: true);
        return (context, now + (notAfter - now) / 2);
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}
