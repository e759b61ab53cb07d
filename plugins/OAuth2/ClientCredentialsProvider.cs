using System.Security.Claims;
using System.Security.Cryptography;
using Duende.IdentityModel;
using Duende.IdentityModel.Client;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>
/// Fetches an access token with the client credentials grant. Caching, refresh-ahead and single flight are the
/// broker's job. Each fetch runs through a Polly pipeline: a timeout per attempt, retries with exponential
/// backoff and jitter on transient failures only (network, 408, 429, 5xx; never an auth refusal), and a circuit
/// breaker that stops hammering an endpoint that keeps failing. Failures name the credential and the OAuth2
/// error code, never the client secret, the assertion or a token.
/// </summary>
internal sealed class ClientCredentialsProvider : ICredentialProvider
{
    private readonly ClientCredentialsSettings _settings;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly SecurityKey? _signingKey;
    private readonly string? _algorithm;
    private readonly ResiliencePipeline<TokenResponse> _pipeline;

    public ClientCredentialsProvider(ClientCredentialsSettings settings, TimeProvider time)
    {
        _settings = settings;
        _time = time;
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
        var transient = new PredicateBuilder<TokenResponse>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>().HandleResult(IsTransient);
        _pipeline = new ResiliencePipelineBuilder<TokenResponse> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<TokenResponse>
            {
                ShouldHandle = transient,
                MaxRetryAttempts = 2,
                Delay = TimeSpan.FromMilliseconds(200),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<TokenResponse>
            {
                ShouldHandle = transient,
                FailureRatio = 0.5,
                MinimumThroughput = 6,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(15),
            })
            .AddTimeout(settings.Timeout)
            .Build();
        if (settings.PrivateKeyFile is not null)
        {
            (_signingKey, _algorithm) = LoadKey(settings.PrivateKeyFile, settings.KeyId);
        }
    }

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        TokenResponse response;
        try
        {
            response = await _pipeline.ExecuteAsync(async token => await _http.RequestClientCredentialsTokenAsync(BuildRequest(), token), cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            throw new CredentialUnavailableException(_settings.Name, $"token endpoint {_settings.TokenUrl.GetLeftPart(UriPartial.Path)} timed out after {_settings.Timeout.TotalSeconds:0.#} s", isOutage: true);
        }
        catch (BrokenCircuitException)
        {
            throw new CredentialUnavailableException(_settings.Name, $"token endpoint {_settings.TokenUrl.GetLeftPart(UriPartial.Path)} keeps failing; not called for a while (circuit open)", isOutage: true);
        }
        catch (HttpRequestException ex)
        {
            throw new CredentialUnavailableException(_settings.Name, $"token endpoint {_settings.TokenUrl.GetLeftPart(UriPartial.Path)} unreachable ({ex.GetType().Name})", isOutage: true);
        }
        return ToCredential(response);
    }

    /// <summary>Network failures, 408, 429 and 5xx are worth another try; a 4xx refusal is not.</summary>
    private static bool IsTransient(TokenResponse response) =>
        response.ErrorType == ResponseErrorType.Exception
        || (int)response.HttpStatusCode >= 500
        || response.HttpStatusCode is System.Net.HttpStatusCode.RequestTimeout or System.Net.HttpStatusCode.TooManyRequests;

    /// <summary>A fresh request per attempt (a new assertion, with a new jti, every time).</summary>
    private ClientCredentialsTokenRequest BuildRequest()
    {
        var tokenRequest = new ClientCredentialsTokenRequest
        {
            Address = _settings.TokenUrl.ToString(),
            ClientId = _settings.ClientId,
            Scope = _settings.Scope,
            ClientCredentialStyle = _settings.ClientAuth == "client_secret_post" ? ClientCredentialStyle.PostBody : ClientCredentialStyle.AuthorizationHeader,
        };
        if (_settings.Resource is not null)
        {
            tokenRequest.Resource.Add(_settings.Resource);
        }
        foreach (var (key, value) in _settings.Parameters)
        {
            tokenRequest.Parameters.Add(key, value);
        }
        if (_signingKey is not null)
        {
            tokenRequest.ClientCredentialStyle = ClientCredentialStyle.PostBody;
            tokenRequest.ClientAssertion = new ClientAssertion { Type = OidcConstants.ClientAssertionTypes.JwtBearer, Value = CreateAssertion() };
        }
        else
        {
            tokenRequest.ClientSecret = ReadClientSecret();
        }
        return tokenRequest;
    }

    private Credential ToCredential(TokenResponse response)
    {
        if (response.IsError || string.IsNullOrEmpty(response.AccessToken))
        {
            // A 401 with an OAuth2 error body comes back as an HTTP error; the error code is still in the JSON.
            var oauthError = response.Json is not null ? response.TryGet(OidcConstants.TokenResponse.Error) : null;
            var reason = response.ErrorType switch
            {
                ResponseErrorType.Exception =>
                    $"token endpoint {_settings.TokenUrl.GetLeftPart(UriPartial.Path)} unreachable ({response.Exception?.GetType().Name ?? "error"})",
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

    /// <summary>An RFC 7523 client assertion: iss = sub = client id, aud = the token endpoint, 60 s, unique jti.</summary>
    private string CreateAssertion()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        var descriptor = new SecurityTokenDescriptor
        {
            Issuer = _settings.ClientId,
            Audience = _settings.AssertionAudience ?? _settings.TokenUrl.ToString(),
            Subject = new ClaimsIdentity([new Claim(JwtClaimTypes.Subject, _settings.ClientId), new Claim(JwtClaimTypes.JwtId, Guid.NewGuid().ToString("N"))]),
            IssuedAt = now,
            NotBefore = now,
            Expires = now.AddSeconds(60),
            SigningCredentials = new SigningCredentials(_signingKey, _algorithm),
        };
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(descriptor);
    }

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

    private static (SecurityKey, string) LoadKey(string path, string? keyId)
    {
        var pem = File.ReadAllText(path);
        try
        {
            var ec = ECDsa.Create();
            ec.ImportFromPem(pem);
            return (new ECDsaSecurityKey(ec) { KeyId = keyId }, SecurityAlgorithms.EcdsaSha256);
        }
        catch (ArgumentException)
        {
            var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return (new RsaSecurityKey(rsa) { KeyId = keyId }, SecurityAlgorithms.RsaSha256);
        }
    }

    /// <summary>OAuth2 error codes are short tokens; anything else is cut so a hostile server cannot stuff logs.</summary>
    private static string Safe(string? error) =>
        error is null ? "unknown_error" : new string(error.Where(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.').Take(64).ToArray());

    public void Dispose() => _http.Dispose();
}
