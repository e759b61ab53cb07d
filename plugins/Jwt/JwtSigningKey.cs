using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Jwt;

/// <summary>A signing key from PEM (<see cref="PemSigningKey"/>) as IdentityModel signs with it.</summary>
internal sealed class JwtSigningKey(PemSigningKey pem, SecurityKey securityKey) : IDisposable
{
    public SecurityKey SecurityKey { get; } = securityKey;

    public string Algorithm => pem.Algorithm;

    public string PublicJwk => pem.PublicJwk;

    public static JwtSigningKey Load(string path, string? keyId)
    {
        var pem = PemSigningKey.Load(path, keyId);
        return new JwtSigningKey(pem, SecurityKeyOf(pem));
    }

    /// <summary>The IdentityModel key over a PEM key, with its key id.</summary>
    public static SecurityKey SecurityKeyOf(PemSigningKey pem) => pem.Key switch
    {
        ECDsa ec => new ECDsaSecurityKey(ec) { KeyId = pem.KeyId },
        RSA rsa => new RsaSecurityKey(rsa) { KeyId = pem.KeyId },
        _ => throw new NotSupportedException("unsupported key type"),
    };

    public void Dispose() => pem.Dispose();
}
