using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Abstractions;

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
            var (jwk, kid) = JsonWebKeys.Public(ec, keyId);
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
            var (jwk, kid) = JsonWebKeys.Public(rsa, keyId);
            return new JwtSigningKey(rsa, new RsaSecurityKey(rsa) { KeyId = kid }, SecurityAlgorithms.RsaSha256, jwk);
        }
    }

    public void Dispose() => _key.Dispose();
}
