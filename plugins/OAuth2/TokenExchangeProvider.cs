using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>
/// Exchanges a proxy-signed subject token for the calling workload for an access token (RFC 8693). On behalf of a
/// user (<c>onBehalfOf: true</c>), the user's validated token is the <c>subject_token</c> and the proxy-signed JWT
/// for the workload (the agent) is the <c>actor_token</c>, so the issuer can name both (<c>act</c>, RFC 8693 §4.1).
/// </summary>
internal sealed class TokenExchangeProvider(
    ClientCredentialsSettings settings,
    (SecurityKey Key, string Algorithm) subjectKey,
    string subjectJwk,
    string subjectIssuer,
    string? subjectAudience,
    TimeSpan subjectTtl,
    string? requestedTokenType,
    TimeProvider time,
    string? userTokenType = null) : ICredentialProvider, IPublishesSigningKeys, IReportsCircuitState, IRevokesAtIssuer
{
    public const string JwtTokenType = "urn:ietf:params:oauth:token-type:jwt";

    private readonly TokenEndpoint _endpoint = new(settings, time);

    public bool IsWorkloadBound => true;

    public bool PresentsClientCertificate => _endpoint.Certificate is not null;

    /// <summary>True with <c>onBehalfOf: true</c>: <see cref="userTokenType"/> is the user token's type.</summary>
    public bool ActsOnBehalfOfUsers => userTokenType is not null;

    public CircuitState CircuitState => _endpoint.CircuitState;

    public IReadOnlyList<string> PublicJwks { get; } = [subjectJwk];

    public TimeSpan TokenLifetime => subjectTtl;

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        if (request.WorkloadId is not { } workload)
        {
            throw new CredentialUnavailableException(settings.Name, "token exchange needs a verified caller identity");
        }
        ActingUser? user = null;
        if (ActsOnBehalfOfUsers)
        {
            user = request.OnBehalfOf ?? throw new CredentialUnavailableException(settings.Name,
                "this credential is issued on behalf of the user the agent acts for, and the call carries no validated user token (an MCP route with McpUserHeader passes it)");
            if (user.ExpiresAt is { } ends && ends <= time.GetUtcNow())
            {
                throw new CredentialUnavailableException(settings.Name, "the user's token has expired; the agent must send a fresh one");
            }
        }
        var credential = await _endpoint.RequestAsync(
            () =>
            {
                var proxySigned = _endpoint.Sign(subjectKey, subjectIssuer, workload, subjectAudience ?? _endpoint.DefaultSubjectAudience, subjectTtl, null);
                var exchange = new TokenExchangeTokenRequest
                {
                    SubjectToken = user is null ? proxySigned : user.Token.Reveal(),
                    SubjectTokenType = user is null ? JwtTokenType : userTokenType!,
                    ActorToken = user is null ? null : proxySigned,
                    ActorTokenType = user is null ? null : JwtTokenType,
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
        // Nothing issued on the user's strength is served after the user's own token has expired.
        return user?.ExpiresAt is { } userEnds && (credential.ExpiresAt is null || credential.ExpiresAt > userEnds) ? credential.WithExpiresAt(userEnds) : credential;
    }

    /// <summary>RFC 7009 at the issuer's revocation endpoint, whatever the reason: a token cut short by <c>maxTtl</c> is still valid there.</summary>
    public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) =>
        await _endpoint.RevokeAsync(credential, cancellationToken);

    public void Dispose() => _endpoint.Dispose();
}
