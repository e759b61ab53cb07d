using Duende.IdentityModel.Client;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>
/// An access token by the client credentials grant (RFC 6749 §4.4). Caching, refresh-ahead and single flight
/// are the broker's job; client authentication and resilience are the <see cref="TokenEndpoint"/>'s.
/// </summary>
internal sealed class ClientCredentialsProvider(ClientCredentialsSettings settings, TimeProvider time) : ICredentialProvider, IReportsCircuitState, IRevokesAtIssuer
{
    private readonly TokenEndpoint _endpoint = new(settings, time);

    public CircuitState CircuitState => _endpoint.CircuitState;

    public bool PresentsClientCertificate => _endpoint.Certificate is not null;

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken) =>
        await _endpoint.RequestAsync(
            () =>
            {
                var tokenRequest = new ClientCredentialsTokenRequest { Scope = settings.Scope };
                if (settings.Resource is not null)
                {
                    tokenRequest.Resource.Add(settings.Resource);
                }
                if (settings.Audience is not null)
                {
                    tokenRequest.Parameters.Add("audience", settings.Audience);
                }
                foreach (var (key, value) in settings.Parameters)
                {
                    tokenRequest.Parameters.Add(key, value);
                }
                return tokenRequest;
            },
            (http, tokenRequest, token) => http.RequestClientCredentialsTokenAsync(tokenRequest, token),
            cancellationToken);

    /// <summary>RFC 7009 at the issuer's revocation endpoint, whatever the reason: a token cut short by <c>maxTtl</c> is still valid there.</summary>
    public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) =>
        await _endpoint.RevokeAsync(credential, cancellationToken);

    public void Dispose() => _endpoint.Dispose();
}
