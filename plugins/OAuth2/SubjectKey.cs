using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>The key subject tokens are signed with, and its public JWK (key id: the RFC 7638 thumbprint unless given).</summary>
internal static class SubjectKey
{
    public static ((SecurityKey Key, string Algorithm) Key, string Jwk) Load(string path, string? keyId)
    {
        var (key, algorithm) = TokenEndpoint.LoadKey(path, keyId);
        string jwk;
        switch (key)
        {
            case ECDsaSecurityKey ec:
                var e = ec.ECDsa.ExportParameters(false);
                keyId ??= Thumbprint($"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{B64(e.Q.X!)}\",\"y\":\"{B64(e.Q.Y!)}\"}}");
                ec.KeyId = keyId;
                jwk = JsonSerializer.Serialize(new { kty = "EC", crv = "P-256", x = B64(e.Q.X!), y = B64(e.Q.Y!), kid = keyId, use = "sig", alg = "ES256" });
                break;
            case RsaSecurityKey rsa:
                var r = rsa.Rsa.ExportParameters(false);
                keyId ??= Thumbprint($"{{\"e\":\"{B64(r.Exponent!)}\",\"kty\":\"RSA\",\"n\":\"{B64(r.Modulus!)}\"}}");
                rsa.KeyId = keyId;
                jwk = JsonSerializer.Serialize(new { kty = "RSA", n = B64(r.Modulus!), e = B64(r.Exponent!), kid = keyId, use = "sig", alg = "RS256" });
                break;
            default:
                throw new NotSupportedException("unsupported key type");
        }
        return ((key, algorithm), jwk);
    }

    private static string Thumbprint(string canonicalJwk) => B64(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonicalJwk)));

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
