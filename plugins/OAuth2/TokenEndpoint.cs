using System.Security.Claims;
using System.Security.Cryptography;
using Duende.IdentityModel;
using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>
/// One OAuth2 token endpoint as a client sees it: client authentication (secret, RFC 7523 assertion, or RFC 8705 client
/// certificate; a configured certificate is presented on the TLS connection and handed to upstreams with every token,
/// which the server may bind to it as <c>cnf.x5t#S256</c>), a Polly
/// pipeline (per-attempt timeout, retries with backoff and jitter on transient failures only, circuit breaker),
/// and the mapping of answers to credentials or to failures that never carry a secret.
/// </summary>
internal sealed class TokenEndpoint : IDisposable
{
    private readonly ClientCredentialsSettings _settings;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<TokenResponse> _pipeline;
    private readonly (SecurityKey Key, string Algorithm)? _clientKey;
    private readonly CircuitBreakerStateProvider _circuit = new();
    private readonly ResiliencePipeline<TokenRevocationResponse> _revocationPipeline;
    private string? _address;

    /// <summary>The revocation endpoint discovery found: null before discovery, "" when the issuer advertises none.</summary>
    private string? _discoveredRevocation;

    public TokenEndpoint(ClientCredentialsSettings settings, TimeProvider time)
    {
        _settings = settings;
        _time = time;
        var handler = TrustedCaHandler.Create(settings.CaFile);
        if (settings.CertFile is not null && settings.KeyFile is not null)
        {
            Certificate = ClientCertificate.Load(settings.CertFile, settings.KeyFile, time.GetUtcNow());
            handler.SslOptions.ClientCertificateContext = Certificate.Context;
        }
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _address = settings.TokenUrl?.ToString();
        if (settings.PrivateKeyFile is not null)
        {
            var (key, algorithm, _) = LoadKey(settings.PrivateKeyFile, settings.KeyId);
            _clientKey = (key, algorithm);
        }
        var transient = new PredicateBuilder<TokenResponse>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().HandleResult(IsTransient);
        _pipeline = IssuerResilience.Build(transient, settings.Timeout, time, _circuit);
        // Revocation has its own pipeline: retries as for tokens, but no circuit breaker (a failing revocation endpoint
        // must not stop the token requests), and every failure ends as an audit event, never as an exception.
        _revocationPipeline = IssuerResilience.Build(
            new PredicateBuilder<TokenRevocationResponse>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().HandleResult(IsTransient),
            settings.Timeout, time, breaker: false);
    }

    /// <summary>The client certificate presented to the token endpoint (and with its tokens to upstreams), or null.</summary>
    public ClientCertificate? Certificate { get; }

    /// <summary>The circuit breaker's state, for metrics.</summary>
    public Abstractions.CircuitState CircuitState => IssuerResilience.StateOf(_circuit);

    /// <summary>The token endpoint: as configured, or found once by OIDC discovery from the issuer.</summary>
    private async Task<string> AddressAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _address) is { } known)
        {
            return known;
        }
        var issuer = _settings.Issuer!;
        DiscoveryDocumentResponse discovery;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_settings.Timeout);
            try
            {
                discovery = await _http.GetDiscoveryDocumentAsync(new DiscoveryDocumentRequest
                {
                    Address = issuer.ToString(),
                    Policy = { RequireHttps = issuer.Scheme == Uri.UriSchemeHttps },
                }, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new CredentialUnavailableException(_settings.Name, $"OIDC discovery at {SafeUrl.Display(issuer)} timed out", isOutage: true);
            }
        }
        if (discovery.IsError || string.IsNullOrEmpty(discovery.TokenEndpoint))
        {
            var outage = discovery.ErrorType == ResponseErrorType.Exception || (int)discovery.HttpStatusCode >= 500;
            throw new CredentialUnavailableException(_settings.Name, $"OIDC discovery at {SafeUrl.Display(issuer)} failed ({discovery.ErrorType})", outage);
        }
        Volatile.Write(ref _discoveredRevocation, discovery.RevocationEndpoint ?? "");
        Volatile.Write(ref _address, discovery.TokenEndpoint);
        return discovery.TokenEndpoint;
    }

    /// <summary>
    /// The revocation endpoint (RFC 7009): <c>revocationUrl</c>, else the one discovery found (discovery runs if it has
    /// not yet); null when there is none (a <c>tokenUrl</c> without <c>revocationUrl</c>, or an issuer that advertises none).
    /// </summary>
    private async Task<string?> RevocationAddressAsync(CancellationToken cancellationToken)
    {
        if (_settings.RevocationUrl is { } configured)
        {
            return configured.ToString();
        }
        if (_settings.Issuer is null)
        {
            return null;
        }
        if (Volatile.Read(ref _discoveredRevocation) is null)
        {
            await AddressAsync(cancellationToken);
        }
        return Volatile.Read(ref _discoveredRevocation) is { Length: > 0 } found ? found : null;
    }

    /// <summary>
    /// Revokes an access token at the issuer (RFC 7009, <c>token_type_hint=access_token</c>), authenticated as the token
    /// request is. Never throws for the issuer's sake: unreachable, timed out or refused comes back as a failure whose
    /// reason names the endpoint and the status or OAuth2 error code, never the token or the client secret.
    /// </summary>
    public async Task<IssuerRevocation> RevokeAsync(Credential credential, CancellationToken cancellationToken)
    {
        var issuer = SafeUrl.Display(_settings.RevocationUrl?.ToString() ?? _settings.Issuer?.ToString() ?? _settings.TokenUrl!.ToString());
        string? address;
        string tokenAddress;
        try
        {
            address = await RevocationAddressAsync(cancellationToken);
            if (address is null)
            {
                return IssuerRevocation.Impossible(issuer, _settings.Issuer is null
                    ? "no revocationUrl is configured (and without issuer there is no discovery): the token stays valid at the issuer until it expires"
                    : "the issuer's discovery document advertises no revocation_endpoint (RFC 7009): the token stays valid at the issuer until it expires");
            }
            tokenAddress = await AddressAsync(cancellationToken);
        }
        catch (CredentialUnavailableException ex)
        {
            return IssuerRevocation.Failure(issuer, ex.Reason);
        }
        var where = SafeUrl.Display(address);
        TokenRevocationResponse response;
        try
        {
            response = await _revocationPipeline.ExecuteAsync(async token =>
            {
                var request = Authenticate(new TokenRevocationRequest { Token = credential.Secret.Reveal(), TokenTypeHint = "access_token" }, address, tokenAddress);
                return await _http.RevokeTokenAsync(request, token);
            }, cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            return IssuerRevocation.Failure(where, $"revocation endpoint timed out after {_settings.Timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException ex)
        {
            return IssuerRevocation.Failure(where, $"revocation endpoint unreachable ({ex.GetType().Name})");
        }
        catch (CredentialUnavailableException ex)
        {
            // The client secret could not be read.
            return IssuerRevocation.Failure(where, ex.Reason);
        }
        if (!response.IsError)
        {
            return IssuerRevocation.Done(where);
        }
        var oauthError = response.Json is not null ? response.TryGet(OidcConstants.TokenResponse.Error) : null;
        return IssuerRevocation.Failure(where, response.ErrorType switch
        {
            ResponseErrorType.Exception => $"revocation endpoint unreachable ({response.Exception?.GetType().Name ?? "error"})",
            _ when oauthError is not null => $"revocation endpoint refused: {Safe(oauthError)} (HTTP {(int)response.HttpStatusCode})",
            _ => $"revocation endpoint answered HTTP {(int)response.HttpStatusCode}",
        });
    }

    /// <summary>The audience subject tokens are issued for: the issuer, or the token URL's origin.</summary>
    public string DefaultSubjectAudience =>
        _settings.Issuer?.ToString().TrimEnd('/') ?? _settings.TokenUrl!.GetLeftPart(UriPartial.Authority);

    /// <summary>Sends a token request built fresh for every attempt (a new client assertion each time).</summary>
    public async Task<Credential> RequestAsync<TRequest>(Func<TRequest> build, Func<HttpClient, TRequest, CancellationToken, Task<TokenResponse>> send, CancellationToken cancellationToken)
        where TRequest : ProtocolRequest
    {
        var address = await AddressAsync(cancellationToken);
        var where = SafeUrl.Display(address);
        TokenResponse response;
        try
        {
            response = await _pipeline.ExecuteAsync(async token => await send(_http, Authenticate(build(), address, address), token), cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            throw new CredentialUnavailableException(_settings.Name, $"token endpoint {where} timed out after {_settings.Timeout.TotalSeconds:0.#} s", isOutage: true);
        }
        catch (BrokenCircuitException)
        {
            throw new CredentialUnavailableException(_settings.Name, $"token endpoint {where} keeps failing; not called for a while (circuit open)", isOutage: true);
        }
        catch (HttpRequestException ex)
        {
            throw new CredentialUnavailableException(_settings.Name, $"token endpoint {where} unreachable ({ex.GetType().Name})", isOutage: true);
        }
        return ToCredential(response, where);
    }

    /// <param name="tokenAddress">The token endpoint: the default audience of a client assertion, whichever endpoint is called.</param>
    private TRequest Authenticate<TRequest>(TRequest request, string address, string tokenAddress)
        where TRequest : ProtocolRequest
    {
        request.Address = address;
        request.ClientId = _settings.ClientId;
        request.ClientCredentialStyle = _settings.ClientAuth == "client_secret_post" ? ClientCredentialStyle.PostBody : ClientCredentialStyle.AuthorizationHeader;
        if (_settings.MutualTls)
        {
            // RFC 8705 §2: client_id in the body, no secret; the certificate on the connection authenticates.
            request.ClientCredentialStyle = ClientCredentialStyle.PostBody;
        }
        else if (_clientKey is { } key)
        {
            request.ClientCredentialStyle = ClientCredentialStyle.PostBody;
            request.ClientAssertion = new ClientAssertion { Type = OidcConstants.ClientAssertionTypes.JwtBearer, Value = Sign(key, _settings.ClientId, _settings.ClientId, _settings.AssertionAudience ?? tokenAddress, TimeSpan.FromSeconds(60), null) };
        }
        else
        {
            request.ClientSecret = ReadClientSecret();
        }
        return request;
    }

    /// <summary>A signed JWT: iss, sub, aud, iat/nbf/exp, a unique jti, and any extra claims.</summary>
    public string Sign((SecurityKey Key, string Algorithm) key, string issuer, string subject, string audience, TimeSpan lifetime, IDictionary<string, object>? claims)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Audience = audience,
            Subject = new ClaimsIdentity([new Claim(JwtClaimTypes.Subject, subject), new Claim(JwtClaimTypes.JwtId, Guid.NewGuid().ToString("N"))]),
            IssuedAt = now,
            NotBefore = now,
            Expires = now + lifetime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(key.Key, key.Algorithm),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

    private Credential ToCredential(TokenResponse response, string where)
    {
        if (response.IsError || string.IsNullOrEmpty(response.AccessToken))
        {
            // A 401 with an OAuth2 error body comes back as an HTTP error; the error code is still in the JSON.
            var oauthError = response.Json is not null ? response.TryGet(OidcConstants.TokenResponse.Error) : null;
            var reason = response.ErrorType switch
            {
                ResponseErrorType.Exception => $"token endpoint {where} unreachable ({response.Exception?.GetType().Name ?? "error"})",
                _ when oauthError is not null || response.ErrorType == ResponseErrorType.Protocol =>
                    $"token endpoint refused the request: {Safe(oauthError ?? response.Error)} (HTTP {(int)response.HttpStatusCode})",
                ResponseErrorType.Http => $"token endpoint answered HTTP {(int)response.HttpStatusCode}",
                _ => "the token endpoint's answer could not be read",
            };
            var outage = response.ErrorType == ResponseErrorType.Exception || (int)response.HttpStatusCode >= 500;
            throw new CredentialUnavailableException(_settings.Name, reason, outage);
        }
        var lifetime = response.ExpiresIn > 0 ? TimeSpan.FromSeconds(response.ExpiresIn) : TimeSpan.FromMinutes(5);
        // A token the server bound to the certificate (cnf.x5t#S256) is only accepted over a connection presenting it.
        return new Credential(_settings.Name, new SecretValue(response.AccessToken)) { ExpiresAt = _time.GetUtcNow() + lifetime, ClientCertificate = Certificate };
    }

    /// <summary>Network failures, 408, 429 and 5xx are worth another try; a 4xx refusal is not.</summary>
    private static bool IsTransient(ProtocolResponse response) =>
        response.ErrorType == ResponseErrorType.Exception
        || (int)response.HttpStatusCode >= 500
        || response.HttpStatusCode is System.Net.HttpStatusCode.RequestTimeout or System.Net.HttpStatusCode.TooManyRequests;

    private string ReadClientSecret()
    {
        string? secret;
        if (_settings.ClientSecretFile is { } file)
        {
            try
            {
                secret = File.ReadAllText(file).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CredentialUnavailableException(_settings.Name, $"client secret file '{file}' could not be read ({ex.GetType().Name})");
            }
        }
        else
        {
            secret = Environment.GetEnvironmentVariable(_settings.ClientSecretEnv!);
        }
        return string.IsNullOrEmpty(secret)
            ? throw new CredentialUnavailableException(_settings.Name, "the client secret is empty or not set")
            : secret;
    }

    /// <summary>A PEM private key: EC P-256 (ES256) or RSA (RS256).</summary>
    /// <summary>A PEM signing key (<see cref="PemSigningKey"/>) as IdentityModel signs with it, with its key id.</summary>
    public static (SecurityKey Key, string Algorithm, PemSigningKey Pem) LoadKey(string path, string? keyId)
    {
        var pem = PemSigningKey.Load(path, keyId);
        SecurityKey key = pem.Key is ECDsa ec ? new ECDsaSecurityKey(ec) : new RsaSecurityKey((RSA)pem.Key);
        key.KeyId = keyId;
        return (key, pem.Algorithm, pem);
    }

    /// <summary>OAuth2 error codes are short tokens; anything else is cut so a hostile server cannot stuff logs.</summary>
    private static string Safe(string? error) =>
        error is null ? "unknown_error" : new string(error.Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.').Take(64).ToArray());

    public void Dispose() => _http.Dispose();
}
