using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>Exchanges a proxy-signed subject token for the calling workload for an access token (RFC 8693).</summary>
internal sealed class TokenExchangeProvider(
    ClientCredentialsSettings settings,
    (SecurityKey Key, string Algorithm) subjectKey,
    string subjectJwk,
    string subjectIssuer,
    string? subjectAudience,
    TimeSpan subjectTtl,
    string? requestedTokenType,
    TimeProvider time) : ICredentialProvider, IPublishesSigningKeys, IReportsCircuitState, IRevokesAtIssuer
{
    public const string JwtTokenType = "urn:ietf:params:oauth:token-type:jwt";

    private readonly TokenEndpoint _endpoint = new(settings, time);

    public bool IsWorkloadBound => true;

    public CircuitState CircuitState => _endpoint.CircuitState;

    public IReadOnlyList<string> PublicJwks { get; } = [subjectJwk];

    public TimeSpan TokenLifetime => subjectTtl;

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        if (request.WorkloadId is not { } workload)
        {
            throw new CredentialUnavailableException(settings.Name, "token exchange needs a verified caller identity");
        }
        return await _endpoint.RequestAsync(
            () =>
            {
                var exchange = new TokenExchangeTokenRequest
                {
                    SubjectToken = _endpoint.Sign(subjectKey, subjectIssuer, workload, subjectAudience ?? _endpoint.DefaultSubjectAudience, subjectTtl, null),
                    SubjectTokenType = JwtTokenType,
                    RequestedTokenType = requestedTokenType,
                    Audience = settings.Audience,
                    Resource = settings.Resource,
                    Scope = settings.Scope,
                };
                foreach (var (key, value) in settings.Parameters)
                {
                    exchange.Parameters.Add(key, value);
                }
                return exchange;
            },
            (http, exchange, token) => http.RequestTokenExchangeTokenAsync(exchange, token),
            cancellationToken);
    }

    /// <summary>RFC 7009 at the issuer's revocation endpoint, whatever the reason: a token cut short by <c>maxTtl</c> is still valid there.</summary>
    public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) =>
        await _endpoint.RevokeAsync(credential, cancellationToken);

    public void Dispose() => _endpoint.Dispose();
}
