using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.Plugins.Jwt;

/// <summary>A signing key from PEM, with its algorithm, key id and public JWK.</summary>
internal sealed class JwtSigningKey : IDisposable
{
    private readonly AsymmetricAlgorithm _key;

    private JwtSigningKey(AsymmetricAlgorithm key, SecurityKey securityKey, string algorithm, string publicJwk)
    {
        _key = key;
        SecurityKey = securityKey;
        Algorithm = algorithm;
        PublicJwk = publicJwk;
    }

    public SecurityKey SecurityKey { get; }

    public string Algorithm { get; }

    public string PublicJwk { get; }

    public static JwtSigningKey Load(string path, string? keyId)
    {
        var pem = File.ReadAllText(path);
        try
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            if (ec.KeySize != 256)
            {
                throw new NotSupportedException("only P-256 EC keys are supported");
            }
            var p = ec.ExportParameters(false);
            var kid = keyId ?? Thumbprint($"{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{B64(p.Q.X!)}\",\"y\":\"{B64(p.Q.Y!)}\"}}");
            var jwk = JsonSerializer.Serialize(new { kty = "EC", crv = "P-256", x = B64(p.Q.X!), y = B64(p.Q.Y!), kid, use = "sig", alg = "ES256" });
            return new JwtSigningKey(ec, new ECDsaSecurityKey(ec) { KeyId = kid }, SecurityAlgorithms.EcdsaSha256, jwk);
        }
        catch (ArgumentException)
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            if (rsa.KeySize < 2048)
            {
                throw new NotSupportedException("RSA keys need at least 2048 bits");
            }
            var p = rsa.ExportParameters(false);
            var kid = keyId ?? Thumbprint($"{{\"e\":\"{B64(p.Exponent!)}\",\"kty\":\"RSA\",\"n\":\"{B64(p.Modulus!)}\"}}");
            var jwk = JsonSerializer.Serialize(new { kty = "RSA", n = B64(p.Modulus!), e = B64(p.Exponent!), kid, use = "sig", alg = "RS256" });
            return new JwtSigningKey(rsa, new RsaSecurityKey(rsa) { KeyId = kid }, SecurityAlgorithms.RsaSha256, jwk);
        }
    }

    /// <summary>RFC 7638 thumbprint over the required members in lexicographic order.</summary>
    private static string Thumbprint(string canonicalJwk) => B64(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(canonicalJwk)));

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => _key.Dispose();
}
