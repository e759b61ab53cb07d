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
/// One OAuth2 token endpoint as a client sees it: client authentication (secret or RFC 7523 assertion), a Polly
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
    private string? _address;

    public TokenEndpoint(ClientCredentialsSettings settings, TimeProvider time)
    {
        _settings = settings;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
        _address = settings.TokenUrl?.ToString();
        if (settings.PrivateKeyFile is not null)
        {
            var (key, algorithm, _) = LoadKey(settings.PrivateKeyFile, settings.KeyId);
            _clientKey = (key, algorithm);
        }
        var transient = new PredicateBuilder<TokenResponse>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().HandleResult(IsTransient);
        _pipeline = IssuerResilience.Build(transient, settings.Timeout, time, _circuit);
    }

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
        Volatile.Write(ref _address, discovery.TokenEndpoint);
        return discovery.TokenEndpoint;
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
            response = await _pipeline.ExecuteAsync(async token => await send(_http, Authenticate(build(), address), token), cancellationToken);
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

    private TRequest Authenticate<TRequest>(TRequest request, string address)
        where TRequest : ProtocolRequest
    {
        request.Address = address;
        request.ClientId = _settings.ClientId;
        request.ClientCredentialStyle = _settings.ClientAuth == "client_secret_post" ? ClientCredentialStyle.PostBody : ClientCredentialStyle.AuthorizationHeader;
        if (_clientKey is { } key)
        {
            request.ClientCredentialStyle = ClientCredentialStyle.PostBody;
            request.ClientAssertion = new ClientAssertion { Type = OidcConstants.ClientAssertionTypes.JwtBearer, Value = Sign(key, _settings.ClientId, _settings.ClientId, _settings.AssertionAudience ?? address, TimeSpan.FromSeconds(60), null) };
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
        return new Credential(_settings.Name, new SecretValue(response.AccessToken)) { ExpiresAt = _time.GetUtcNow() + lifetime };
    }

    /// <summary>Network failures, 408, 429 and 5xx are worth another try; a 4xx refusal is not.</summary>
    private static bool IsTransient(TokenResponse response) =>
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
