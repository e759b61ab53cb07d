using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.DevCa;

/// <summary>
/// A development certificate authority (ECDSA P-256) that writes PEM files: a root (<c>ca.pem</c>,
/// <c>ca.key</c>), workload X.509-SVIDs (<c>svid.pem</c>, <c>svid.key</c>) and proxy server certificates.
/// For development and tests only: production SVIDs come from SPIRE or another SPIFFE issuer.
/// </summary>
public sealed class DevCertificateAuthority : IDisposable
{
    public const string CertificateFile = "ca.pem";
    public const string KeyFile = "ca.key";

    private readonly ECDsa _key;

    private DevCertificateAuthority(X509Certificate2 certificate, ECDsa key)
    {
        Certificate = certificate;
        _key = key;
    }

    /// <summary>The CA certificate (public part).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Creates a self-signed root, or an intermediate signed by <paramref name="parent"/>.</summary>
    public static DevCertificateAuthority Create(string name, TimeSpan validity, DevCertificateAuthority? parent = null, string? trustDomain = null)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (trustDomain is not null)
        {
            request.CertificateExtensions.Add(SubjectAltName([$"spiffe://{trustDomain}"], [], []));
        }
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        X509Certificate2 certificate;
        if (parent is null)
        {
            certificate = request.CreateSelfSigned(notBefore, notBefore + validity);
        }
        else
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(parent.Certificate, true, false));
            var notAfter = notBefore + validity < parent.Certificate.NotAfter ? notBefore + validity : new DateTimeOffset(parent.Certificate.NotAfter.ToUniversalTime());
            using var signed = request.Create(parent.Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(parent._key), notBefore, notAfter, SerialNumber());
            certificate = signed.CopyWithPrivateKey(key);
        }
        return new DevCertificateAuthority(certificate, key);
    }

    /// <summary>Loads <c>ca.pem</c> and <c>ca.key</c> from a folder written by <see cref="Save"/>.</summary>
    public static DevCertificateAuthority Load(string directory)
    {
        var certPath = Path.Combine(directory, CertificateFile);
        var keyPath = Path.Combine(directory, KeyFile);
        if (!File.Exists(certPath) || !File.Exists(keyPath))
        {
            throw new FileNotFoundException($"'{directory}' holds no dev CA ({CertificateFile} and {KeyFile}); create one with 'secretless-proxy dev-ca init --out {directory}'");
        }
        var certificate = X509CertificateLoader.LoadCertificateFromFile(certPath);
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(keyPath));
        return new DevCertificateAuthority(certificate, key);
    }

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, CertificateFile), Certificate.ExportCertificatePem() + "\n");
        WritePrivate(Path.Combine(directory, KeyFile), _key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    /// <summary>Issues a certificate exactly as <paramref name="spec"/> says (tests use this to make bad SVIDs too).</summary>
    public X509Certificate2 Issue(CertificateSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(spec.Subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(spec.IsCa, false, 0, true));
        if (spec.KeyUsage is { } usage)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        }
        if (spec.ExtendedKeyUsages is { } ekus)
        {
            var oids = new OidCollection();
            foreach (var oid in ekus)
            {
                oids.Add(new Oid(oid));
            }
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        }
        if (spec.Uris.Count + spec.DnsNames.Count + spec.IpAddresses.Count > 0)
        {
            request.CertificateExtensions.Add(SubjectAltName(spec.Uris, spec.DnsNames, spec.IpAddresses));
        }
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        using var signed = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), spec.NotBefore, spec.NotAfter, SerialNumber());
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>A workload X.509-SVID for <paramref name="spiffeId"/>.</summary>
    public X509Certificate2 IssueSvid(string spiffeId, TimeSpan validity)
    {
        var now = DateTimeOffset.UtcNow;
        return Issue(new CertificateSpec
        {
            Subject = "O=SPIFFE",
            Uris = [spiffeId],
            NotBefore = now.AddMinutes(-5),
            NotAfter = now + validity,
        });
    }

    /// <summary>A TLS server certificate for the proxy's listener.</summary>
    public X509Certificate2 IssueServer(IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses, TimeSpan validity)
    {
        var now = DateTimeOffset.UtcNow;
        return Issue(new CertificateSpec
        {
            Subject = $"CN={(dnsNames.Count > 0 ? dnsNames[0] : "secretless-proxy")}",
            DnsNames = dnsNames,
            IpAddresses = addresses,
            KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment,
            ExtendedKeyUsages = [CertificateSpec.ServerAuth],
            NotBefore = now.AddMinutes(-5),
            NotAfter = now + validity,
        });
    }

    /// <summary>Writes a certificate (optionally followed by <paramref name="chain"/>) and its private key as PEM.</summary>
    public static void WritePem(X509Certificate2 certificate, string certPath, string keyPath, IEnumerable<X509Certificate2>? chain = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(certPath))!);
        var pem = certificate.ExportCertificatePem() + "\n";
        foreach (var extra in chain ?? [])
        {
            pem += extra.ExportCertificatePem() + "\n";
        }
        File.WriteAllText(certPath, pem);
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no ECDSA private key");
        WritePrivate(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    private static void WritePrivate(string path, string pem)
    {
        File.WriteAllText(path, pem);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
    }

    /// <summary>A subjectAltName extension written by hand, so test URIs reach the certificate byte for byte.</summary>
    private static X509Extension SubjectAltName(IReadOnlyList<string> uris, IReadOnlyList<string> dnsNames, IReadOnlyList<IPAddress> addresses)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            foreach (var dns in dnsNames)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, dns, new Asn1Tag(TagClass.ContextSpecific, 2));
            }
            foreach (var uri in uris)
            {
                writer.WriteCharacterString(UniversalTagNumber.IA5String, uri, new Asn1Tag(TagClass.ContextSpecific, 6));
            }
            foreach (var address in addresses)
            {
                writer.WriteOctetString(address.GetAddressBytes(), new Asn1Tag(TagClass.ContextSpecific, 7));
            }
        }
        return new X509Extension("2.5.29.17", writer.Encode(), critical: false);
    }

    private static byte[] SerialNumber()
    {
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        return serial;
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }
}
