using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Approvals;

/// <summary>The result of checking an approver's ID token: the approver, or why not (and whether the issuer was to blame).</summary>
public sealed record IdTokenCheck(Approver? Approver, string? Problem, bool IssuerUnavailable = false);

/// <summary>
/// Validates OIDC ID tokens of approvers (<c>approvals.oidc</c>) with Microsoft.IdentityModel.JsonWebTokens: signed by
/// a key of the issuer's JWKS (found through its discovery document, cached ten minutes, read again at most every
/// 30 s when a token names an unknown key), an asymmetric algorithm, <c>iss</c> the issuer, <c>aud</c> the configured
/// audience, and <c>exp</c> (required) and <c>nbf</c> on the proxy's clock with 30 s of skew. The approver's name and
/// groups come from the configured claims. Neither the token nor its claims beyond name and groups are logged.
/// </summary>
public sealed partial class IdTokenValidator(TimeProvider time, ILogger<IdTokenValidator> logger) : IDisposable
{
    private const int MaxTokenLength = 16 * 1024;
    private static readonly TimeSpan KeysFor = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RefetchAfter = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    private static readonly string[] Algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private Keys? _keys;

    private sealed record Keys(OidcApproverSettings Settings, string Issuer, IList<SecurityKey> SigningKeys, DateTimeOffset FetchedAt);

    public async Task<IdTokenCheck> ValidateAsync(OidcApproverSettings settings, string token, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return new IdTokenCheck(null, "the bearer token is empty or longer than 16 KiB");
        }
        Keys keys;
        try
        {
            keys = await KeysAsync(settings, refresh: false, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException or ArgumentException or InvalidDataException)
        {
            Log.KeysFailed(logger, settings.Issuer.GetLeftPart(UriPartial.Authority), ex.GetType().Name);
            return new IdTokenCheck(null, $"the keys of {settings.Issuer.GetLeftPart(UriPartial.Path)} could not be read ({ex.GetType().Name})", IssuerUnavailable: true);
        }
        var result = await _handler.ValidateTokenAsync(token, Parameters(settings, keys));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && time.GetUtcNow() - keys.FetchedAt > RefetchAfter)
        {
            // The issuer may have rotated its keys since they were read.
            try
            {
                keys = await KeysAsync(settings, refresh: true, cancellationToken);
                result = await _handler.ValidateTokenAsync(token, Parameters(settings, keys));
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException or ArgumentException or InvalidDataException)
            {
                return new IdTokenCheck(null, $"the keys of {settings.Issuer.GetLeftPart(UriPartial.Path)} could not be read again ({ex.GetType().Name})", IssuerUnavailable: true);
            }
        }
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
        {
            // The exception's type says what failed (signature, issuer, audience); its message may quote the token's claims.
            return new IdTokenCheck(null, $"the ID token does not verify ({result.Exception?.GetType().Name ?? "invalid"})");
        }
        var now = time.GetUtcNow().UtcDateTime;
        if (jwt.ValidTo == DateTime.MinValue)
        {
            return new IdTokenCheck(null, "the ID token has no exp");
        }
        if (jwt.ValidTo + Skew <= now)
        {
            return new IdTokenCheck(null, $"the ID token expired at {jwt.ValidTo:O}");
        }
        if (jwt.ValidFrom != DateTime.MinValue && jwt.ValidFrom - Skew > now)
        {
            return new IdTokenCheck(null, $"the ID token is not valid before {jwt.ValidFrom:O}");
        }
        var name = jwt.Claims.FirstOrDefault(c => c.Type == settings.NameClaim)?.Value;
        if (string.IsNullOrWhiteSpace(name))
        {
            return new IdTokenCheck(null, $"the ID token has no '{settings.NameClaim}' claim (approvals.oidc.nameClaim) to name the approver");
        }
        var groups = jwt.Claims.Where(c => c.Type == settings.GroupsClaim).Select(c => c.Value).Where(g => g.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        return new IdTokenCheck(new Approver(ApproverKind.Oidc, ApprovalService.Clean(name), groups), null);
    }

    private static TokenValidationParameters Parameters(OidcApproverSettings settings, Keys keys) => new()
    {
        ValidIssuer = keys.Issuer,
        ValidAudience = settings.Audience,
        IssuerSigningKeys = keys.SigningKeys,
        ValidAlgorithms = Algorithms,
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        RequireAudience = true,
        // Checked afterwards on the proxy's clock (TimeProvider), not the system's.
        ValidateLifetime = false,
        ValidateIssuer = true,
        ValidateAudience = true,
    };

    private async Task<Keys> KeysAsync(OidcApproverSettings settings, bool refresh, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (!refresh && _keys is { } known && Equals(known.Settings, settings) && now - known.FetchedAt < KeysFor)
        {
            return known;
        }
        await _fetching.WaitAsync(cancellationToken);
        try
        {
            if (_keys is { } again && Equals(again.Settings, settings) && (refresh ? time.GetUtcNow() - again.FetchedAt < RefetchAfter : time.GetUtcNow() - again.FetchedAt < KeysFor))
            {
                return again;
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(settings.Timeout);
            var discoveryUrl = new Uri(settings.Issuer.ToString().TrimEnd('/') + "/.well-known/openid-configuration");
            using var discovery = JsonDocument.Parse(await GetAsync(discoveryUrl, timeout.Token));
            var issuer = discovery.RootElement.TryGetProperty("issuer", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "";
            if (!string.Equals(issuer.TrimEnd('/'), settings.Issuer.ToString().TrimEnd('/'), StringComparison.Ordinal))
            {
                throw new InvalidDataException("the discovery document names another issuer");
            }
            if (!discovery.RootElement.TryGetProperty("jwks_uri", out var j) || j.ValueKind != JsonValueKind.String || !Uri.TryCreate(j.GetString(), UriKind.Absolute, out var jwksUri)
                || jwksUri.Scheme is not ("http" or "https") || (settings.Issuer.Scheme == "https" && jwksUri.Scheme != "https"))
            {
                throw new InvalidDataException("the discovery document has no usable jwks_uri");
            }
            var set = new JsonWebKeySet(await GetAsync(jwksUri, timeout.Token));
            var keys = set.GetSigningKeys();
            if (keys.Count == 0)
            {
                throw new InvalidDataException("the JWKS has no signing keys");
            }
            var fetched = new Keys(settings, issuer, keys, time.GetUtcNow());
            _keys = fetched;
            Log.KeysRead(logger, jwksUri.GetLeftPart(UriPartial.Path), keys.Count);
            return fetched;
        }
        finally
        {
            _fetching.Release();
        }
    }

    private async Task<string> GetAsync(Uri url, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(url, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
        }
        if (response.Content.Headers.ContentLength > 1024 * 1024)
        {
            throw new InvalidDataException("the answer is larger than 1 MiB");
        }
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    public void Dispose()
    {
        _http.Dispose();
        _fetching.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4120, Level = LogLevel.Information, Message = "Approver ID tokens: read {Count} signing key(s) from {Jwks}")]
        public static partial void KeysRead(ILogger logger, string jwks, int count);

        [LoggerMessage(EventId = 4121, Level = LogLevel.Warning, Message = "Approver ID tokens: the keys of {Issuer} could not be read ({Error})")]
        public static partial void KeysFailed(ILogger logger, string issuer, string error);
    }
}
