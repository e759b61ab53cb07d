using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Postgres.Auth;

/// <summary>
/// The <c>tls-server-end-point</c> channel binding of RFC 5929 §4.1, which SCRAM-SHA-256-PLUS binds to: the hash of
/// the server certificate's DER encoding, with the hash function of the certificate's signature algorithm, except that
/// MD5 and SHA-1 are replaced by SHA-256.
/// </summary>
public static class TlsServerEndPoint
{
    private const string Sha1 = "1.3.14.3.2.26";
    private const string RsaPss = "1.2.840.113549.1.1.10";

    /// <summary>
    /// The binding data for <paramref name="serverCertificate"/> (the certificate the server presented, not its
    /// issuer), or null when its signature algorithm names no single hash function or one .NET does not offer here
    /// (Ed25519, Ed448, SHA-224, SHA-3 where the platform lacks it, an unreadable RSASSA-PSS parameter): then the
    /// client must not use SCRAM-SHA-256-PLUS (PostgreSQL cannot compute the binding for such a certificate either).
    /// </summary>
    public static byte[]? Hash(X509Certificate2 serverCertificate)
    {
        ArgumentNullException.ThrowIfNull(serverCertificate);
        var der = serverCertificate.RawData;
        return HashAlgorithmOf(der) switch
        {
            "SHA256" => SHA256.HashData(der),
            "SHA384" => SHA384.HashData(der),
            "SHA512" => SHA512.HashData(der),
            "SHA3-256" when SHA3_256.IsSupported => SHA3_256.HashData(der),
            "SHA3-384" when SHA3_384.IsSupported => SHA3_384.HashData(der),
            "SHA3-512" when SHA3_512.IsSupported => SHA3_512.HashData(der),
            _ => null,
        };
    }

    /// <summary>The hash to use for a certificate (MD5 and SHA-1 already replaced by SHA-256), or null.</summary>
    internal static string? HashAlgorithmOf(byte[] certificateDer)
    {
        try
        {
            // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue }
            var certificate = new AsnReader(certificateDer, AsnEncodingRules.DER).ReadSequence();
            certificate.ReadEncodedValue();
            var algorithm = certificate.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            return oid == RsaPss ? Replace(PssHash(algorithm)) : Replace(SignatureHash(oid));
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>RFC 5929 §4.1: MD5 and SHA-1 become SHA-256.</summary>
    private static string? Replace(string? hash) => hash is "MD5" or "SHA1" ? "SHA256" : hash;

    /// <summary>The hash of a signature algorithm with one hash function (RFC 3279, 4055, 5758, and NIST's SHA-3 ones).</summary>
    private static string? SignatureHash(string oid) => oid switch
    {
        "1.2.840.113549.1.1.4" => "MD5",            // md5WithRSAEncryption
        "1.2.840.113549.1.1.5" => "SHA1",           // sha1WithRSAEncryption
        "1.3.14.3.2.29" => "SHA1",                  // sha1WithRSASignature (OIW)
        "1.2.840.10040.4.3" => "SHA1",              // id-dsa-with-sha1
        "1.2.840.10045.4.1" => "SHA1",              // ecdsa-with-SHA1
        "1.2.840.113549.1.1.11" => "SHA256",        // sha256WithRSAEncryption
        "1.2.840.113549.1.1.12" => "SHA384",        // sha384WithRSAEncryption
        "1.2.840.113549.1.1.13" => "SHA512",        // sha512WithRSAEncryption
        "1.2.840.10045.4.3.2" => "SHA256",          // ecdsa-with-SHA256
        "1.2.840.10045.4.3.3" => "SHA384",          // ecdsa-with-SHA384
        "1.2.840.10045.4.3.4" => "SHA512",          // ecdsa-with-SHA512
        "2.16.840.1.101.3.4.3.2" => "SHA256",       // id-dsa-with-sha256
        "2.16.840.1.101.3.4.3.10" => "SHA3-256",    // id-ecdsa-with-sha3-256
        "2.16.840.1.101.3.4.3.11" => "SHA3-384",    // id-ecdsa-with-sha3-384
        "2.16.840.1.101.3.4.3.12" => "SHA3-512",    // id-ecdsa-with-sha3-512
        "2.16.840.1.101.3.4.3.14" => "SHA3-256",    // id-rsassa-pkcs1-v1_5-with-sha3-256
        "2.16.840.1.101.3.4.3.15" => "SHA3-384",    // id-rsassa-pkcs1-v1_5-with-sha3-384
        "2.16.840.1.101.3.4.3.16" => "SHA3-512",    // id-rsassa-pkcs1-v1_5-with-sha3-512
        _ => null,                                  // SHA-224 variants, EdDSA, ML-DSA, unknown
    };

    /// <summary>
    /// RSASSA-PSS-params (RFC 4055): SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, ... }.
    /// </summary>
    private static string? PssHash(AsnReader algorithm)
    {
        if (!algorithm.HasData)
        {
            return null; // parameters are required for PSS in a certificate
        }
        var parameters = algorithm.ReadSequence();
        var explicitHash = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        if (!parameters.HasData || !parameters.PeekTag().HasSameClassAndValue(explicitHash))
        {
            return "SHA1";
        }
        var hash = parameters.ReadSequence(explicitHash).ReadSequence().ReadObjectIdentifier();
        return hash switch
        {
            Sha1 => "SHA1",
            "1.2.840.113549.2.5" => "MD5",
            "2.16.840.1.101.3.4.2.1" => "SHA256",
            "2.16.840.1.101.3.4.2.2" => "SHA384",
            "2.16.840.1.101.3.4.2.3" => "SHA512",
            "2.16.840.1.101.3.4.2.8" => "SHA3-256",
            "2.16.840.1.101.3.4.2.9" => "SHA3-384",
            "2.16.840.1.101.3.4.2.10" => "SHA3-512",
            _ => null,
        };
    }
}
