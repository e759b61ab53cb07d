using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Postgres.Auth;

namespace SecretlessProxy.Tests.Postgres;

public sealed class TlsServerEndPointTests
{
    private static readonly X500DistinguishedName Subject = new("CN=db.example");

    private static X509Certificate2 SelfSigned(CertificateRequest request) =>
        request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));

    [Fact]
    public void An_ECDSA_SHA384_certificate_hashes_with_SHA384()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        using var cert = SelfSigned(new CertificateRequest(Subject, key, HashAlgorithmName.SHA384));
        Assert.Equal("1.2.840.10045.4.3.3", cert.SignatureAlgorithm.Value);
        Assert.Equal(SHA384.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void An_RSA_SHA256_certificate_hashes_with_SHA256()
    {
        using var key = RSA.Create(2048);
        using var cert = SelfSigned(new CertificateRequest(Subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.Equal("1.2.840.113549.1.1.11", cert.SignatureAlgorithm.Value);
        Assert.Equal(SHA256.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void An_RSA_SHA512_certificate_hashes_with_SHA512()
    {
        using var key = RSA.Create(2048);
        using var cert = SelfSigned(new CertificateRequest(Subject, key, HashAlgorithmName.SHA512, RSASignaturePadding.Pkcs1));
        Assert.Equal(SHA512.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void An_RSA_PSS_certificate_hashes_with_the_hash_of_its_parameters()
    {
        using var key = RSA.Create(2048);
        using var cert = SelfSigned(new CertificateRequest(Subject, key, HashAlgorithmName.SHA384, RSASignaturePadding.Pss));
        Assert.Equal("1.2.840.113549.1.1.10", cert.SignatureAlgorithm.Value);
        Assert.Equal(SHA384.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void A_SHA1_signed_certificate_hashes_with_SHA256()
    {
        // .NET will not sign a certificate with SHA-1 itself, so this generator does (a real, valid signature).
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(Subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.Create(Subject, new RsaSha1(key), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), [1, 2, 3, 4]);
        Assert.Equal("1.2.840.113549.1.1.5", cert.SignatureAlgorithm.Value);
        Assert.Equal(SHA256.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Theory]
    [InlineData("1.2.840.113549.1.1.4")]   // md5WithRSAEncryption
    [InlineData("1.2.840.10045.4.1")]      // ecdsa-with-SHA1
    [InlineData("1.2.840.10040.4.3")]      // id-dsa-with-sha1
    public void MD5_and_SHA1_signatures_are_replaced_by_SHA256(string oid)
    {
        using var cert = Signed(Algorithm(oid, withNull: false));
        Assert.Equal(SHA256.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void RSA_PSS_with_the_default_hash_is_SHA1_so_SHA256()
    {
        using var cert = Signed(Pss(hashOid: null));
        Assert.Equal(SHA256.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void RSA_PSS_with_SHA512_parameters_hashes_with_SHA512()
    {
        using var cert = Signed(Pss(hashOid: "2.16.840.1.101.3.4.2.3"));
        Assert.Equal(SHA512.HashData(cert.RawData), TlsServerEndPoint.Hash(cert));
    }

    [Theory]
    [InlineData("1.3.101.112")]            // Ed25519: no hash function
    [InlineData("1.3.101.113")]            // Ed448
    [InlineData("1.2.840.10045.4.3.1")]    // ecdsa-with-SHA224: not offered by .NET
    [InlineData("1.2.840.113549.1.1.14")]  // sha224WithRSAEncryption
    [InlineData("1.2.3.4.5")]              // unknown
    public void Algorithms_without_a_usable_hash_give_null(string oid)
    {
        using var cert = Signed(Algorithm(oid, withNull: false));
        Assert.Null(TlsServerEndPoint.Hash(cert));
    }

    [Fact]
    public void RSA_PSS_without_parameters_gives_null()
    {
        using var cert = Signed(Algorithm("1.2.840.113549.1.1.10", withNull: false));
        Assert.Null(TlsServerEndPoint.Hash(cert));
    }

    /// <summary>An AlgorithmIdentifier: SEQUENCE { OID [, NULL] }.</summary>
    private static byte[] Algorithm(string oid, bool withNull)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (withNull)
            {
                writer.WriteNull();
            }
        }
        return writer.Encode();
    }

    /// <summary>RSASSA-PSS with RSASSA-PSS-params { hashAlgorithm [0] AlgorithmIdentifier } (omitted: the SHA-1 default).</summary>
    private static byte[] Pss(string? hashOid)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier("1.2.840.113549.1.1.10");
            using (writer.PushSequence())
            {
                if (hashOid is not null)
                {
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    {
                        writer.WriteEncodedValue(Algorithm(hashOid, withNull: true));
                    }
                }
            }
        }
        return writer.Encode();
    }

    /// <summary>A certificate whose signatureAlgorithm is <paramref name="algorithmIdentifier"/> (the signature itself is filler: only the algorithm matters here).</summary>
    private static X509Certificate2 Signed(byte[] algorithmIdentifier)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Subject, key, HashAlgorithmName.SHA256);
        return request.Create(Subject, new FixedAlgorithm(algorithmIdentifier), DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1), [1, 2, 3, 4]);
    }

    private sealed class RsaSha1(RSA key) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => Algorithm("1.2.840.113549.1.1.5", withNull: true);

#pragma warning disable CA5350 // Deliberate: the test needs a SHA-1-signed certificate.
        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => key.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);
#pragma warning restore CA5350

        protected override PublicKey BuildPublicKey() => throw new NotSupportedException();
    }

    private sealed class FixedAlgorithm(byte[] algorithmIdentifier) : X509SignatureGenerator
    {
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) => algorithmIdentifier;

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) => new byte[64];

        protected override PublicKey BuildPublicKey() => throw new NotSupportedException();
    }
}
