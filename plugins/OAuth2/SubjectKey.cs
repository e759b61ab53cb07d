using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>The key subject tokens are signed with, and its public JWK (key id: the RFC 7638 thumbprint unless given).</summary>
internal static class SubjectKey
{
    public static ((SecurityKey Key, string Algorithm) Key, string Jwk) Load(string path, string? keyId)
    {
        var (key, algorithm) = TokenEndpoint.LoadKey(path, keyId);
        var (jwk, kid) = key switch
        {
            ECDsaSecurityKey ec => JsonWebKeys.Public(ec.ECDsa, keyId),
            RsaSecurityKey rsa => JsonWebKeys.Public(rsa.Rsa, keyId),
            _ => throw new NotSupportedException("unsupported key type"),
        };
        key.KeyId = kid;
        return ((key, algorithm), jwk);
    }
}
