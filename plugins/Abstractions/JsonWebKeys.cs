using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace SecretlessProxy.Abstractions;

/// <summary>Public JSON Web Keys for the token signers plugins publish (see <see cref="IPublishesSigningKeys"/>).</summary>
public static class JsonWebKeys
{
    /// <summary>
    /// The public JWK (JSON text, no private parts) of an EC P-256 (ES256) or RSA (RS256) key. The key id is
    /// <paramref name="keyId"/> or, when null, the key's RFC 7638 thumbprint.
    /// </summary>
    public static (string Jwk, string KeyId) Public(AsymmetricAlgorithm key, string? keyId)
    {
        switch (key)
        {
            case ECDsa ec:
                var e = ec.ExportParameters(false);
                string x = Base64Url(e.Q.X!), y = Base64Url(e.Q.Y!);
                keyId ??= Thumbprint($"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{x}\",\"y\":\"{y}\"}}");
                return (JsonSerializer.Serialize(new { kty = "EC", crv = "P-256", x, y, kid = keyId, use = "sig", alg = "ES256" }), keyId);
            case RSA rsa:
                var r = rsa.ExportParameters(false);
                string n = Base64Url(r.Modulus!), exponent = Base64Url(r.Exponent!);
                keyId ??= Thumbprint($"{{\"e\":\"{exponent}\",\"kty\":\"RSA\",\"n\":\"{n}\"}}");
                return (JsonSerializer.Serialize(new { kty = "RSA", n, e = exponent, kid = keyId, use = "sig", alg = "RS256" }), keyId);
            default:
                throw new NotSupportedException("only EC P-256 and RSA keys can be published");
        }
    }

    /// <summary>Unpadded base64url (RFC 7515).</summary>
    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Thumbprint(string canonicalJwk) => Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalJwk)));
}
