using System.Security.Claims;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Jwt;

/// <summary>Mints a JWT per workload: iss, aud, sub = the caller's SPIFFE ID, iat/nbf/exp, a unique jti.</summary>
internal sealed class JwtProvider(
    string name, JwtSigningKey key, string issuer, string audience, TimeSpan ttl, IDictionary<string, object> claims, TimeProvider time)
    : ICredentialProvider, IPublishesSigningKeys
{
    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false };

    public bool IsWorkloadBound => true;

    public IReadOnlyList<string> PublicJwks { get; } = [key.PublicJwk];

    public TimeSpan TokenLifetime => ttl;

    public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        if (request.WorkloadId is null)
        {
            throw new CredentialUnavailableException(name, "a workload-bound JWT needs a verified caller identity");
        }
        var now = time.GetUtcNow();
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Subject = new ClaimsIdentity([new Claim(JwtRegisteredClaimNames.Sub, request.WorkloadId), new Claim(JwtRegisteredClaimNames.Jti, Guid.NewGuid().ToString("N"))]),
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + ttl).UtcDateTime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(key.SecurityKey, key.Algorithm),
        };
        var token = _handler.CreateToken(descriptor);
        return ValueTask.FromResult(new Credential(name, new SecretValue(token)) { ExpiresAt = now + ttl });
    }

    public void Dispose() => key.Dispose();
}
