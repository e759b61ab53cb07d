using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>The key subject tokens are signed with, and its public JWK (key id: the RFC 7638 thumbprint unless given).</summary>
internal static class SubjectKey
{
    public static ((SecurityKey Key, string Algorithm) Key, string Jwk) Load(string path, string? keyId)
    {
        var (key, algorithm, pem) = TokenEndpoint.LoadKey(path, keyId);
        key.KeyId = pem.KeyId;
        return ((key, algorithm), pem.PublicJwk);
    }
}
