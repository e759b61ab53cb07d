using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Configuration;

namespace SecretlessProxy.Mcp;

/// <summary>
/// Validates the token of the user an agent acts for (an OIDC access or ID token in the route's <c>McpUserHeader</c>):
/// signature against the issuer's JWKS, <c>iss</c>, <c>aud</c> when configured, lifetime (30 s skew), and a <c>sub</c>.
/// Keys are fetched when first needed, kept for 10 minutes, and fetched again (at most every 30 seconds) when a token
/// names a key id the set does not hold, so a rotation at the issuer is picked up. Never logs or returns the token.
/// </summary>
internal sealed partial class McpUserTokens(TimeProvider time, ILogger logger)
{
    private static readonly TimeSpan KeepKeys = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan RefetchAtMost = TimeSpan.FromSeconds(30);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    private readonly JsonWebTokenHandler _handler = new();
    private readonly ConcurrentDictionary<Uri, KeySet> _sets = new();

    /// <summary>The validated user (the token's subject), or why not: a short reason, and whether the issuer could not be reached.</summary>
    /// <param name="Acting">The validated user with the token, for an on-behalf-of exchange (held as a secret).</param>
    public readonly record struct Result(string? User, string? Problem, bool IssuerUnavailable, Abstractions.ActingUser? Acting = null);

    public async Task<Result> ValidateAsync(string token, McpRouteSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (token.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = token[7..].Trim();
        }
        if (token.Length is 0 or > 16 * 1024)
        {
            return new Result(null, "the user token is empty or too long", false);
        }
        var set = _sets.GetOrAdd(settings.UserJwks!, static _ => new KeySet());
        IList<SecurityKey> keys;
        try
        {
            keys = await set.KeysAsync(settings.UserJwks!, time, refresh: false, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ArgumentException or InvalidOperationException)
        {
            Log.JwksUnavailable(logger, settings.UserJwks!.GetLeftPart(UriPartial.Path), ex.GetType().Name);
            return new Result(null, "the user token's issuer keys could not be fetched", true);
        }
        var result = await ValidateAsync(token, settings, keys);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException)
        {
            try
            {
                keys = await set.KeysAsync(settings.UserJwks!, time, refresh: true, cancellationToken);
                result = await ValidateAsync(token, settings, keys);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or ArgumentException or InvalidOperationException)
            {
                Log.JwksUnavailable(logger, settings.UserJwks!.GetLeftPart(UriPartial.Path), ex.GetType().Name);
            }
        }
        if (!result.IsValid)
        {
            return new Result(null, Describe(result.Exception), false);
        }
        if (!result.Claims.TryGetValue("sub", out var sub) || sub is not string subject || subject.Length is 0 or > 256)
        {
            return new Result(null, "the user token has no subject (sub)", false);
        }
        DateTimeOffset? expires = result.SecurityToken.ValidTo is { } validTo && validTo > DateTime.MinValue ? new DateTimeOffset(DateTime.SpecifyKind(validTo, DateTimeKind.Utc)) : null;
        return new Result(subject, null, false, new Abstractions.ActingUser(subject, new Abstractions.SecretValue(token), expires));
    }

    private Task<TokenValidationResult> ValidateAsync(string token, McpRouteSettings settings, IList<SecurityKey> keys) =>
        _handler.ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = settings.UserIssuer,
            ValidateIssuer = true,
            ValidAudience = settings.UserAudience,
            ValidateAudience = settings.UserAudience is not null,
            IssuerSigningKeys = keys,
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromSeconds(30),
            LifetimeValidator = (notBefore, expires, _, parameters) =>
            {
                var now = time.GetUtcNow().UtcDateTime;
                return expires is { } exp && exp.ToUniversalTime() + parameters.ClockSkew > now
                    && (notBefore is not { } nbf || nbf.ToUniversalTime() - parameters.ClockSkew <= now);
            },
        });

    private static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException or SecurityTokenInvalidLifetimeException => "the user token has expired or is not valid yet",
        SecurityTokenInvalidIssuerException => "the user token is from another issuer",
        SecurityTokenInvalidAudienceException => "the user token is for another audience",
        SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException => "the user token's signature does not verify with the issuer's keys",
        SecurityTokenMalformedException or ArgumentException => "the user token is not a JWT",
        _ => "the user token is not valid",
    };

    private sealed class KeySet
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private IList<SecurityKey>? _keys;
        private DateTimeOffset _fetchedAt;

        public async Task<IList<SecurityKey>> KeysAsync(Uri url, TimeProvider time, bool refresh, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            if (_keys is { } current && now - _fetchedAt < (refresh ? RefetchAtMost : KeepKeys))
            {
                return current;
            }
            await _gate.WaitAsync(cancellationToken);
            try
            {
                if (_keys is { } fetched && time.GetUtcNow() - _fetchedAt < (refresh ? RefetchAtMost : KeepKeys))
                {
                    return fetched;
                }
                using var response = await Http.GetAsync(url, cancellationToken);
                response.EnsureSuccessStatusCode();
                var json = await response.Content.ReadAsStringAsync(cancellationToken);
                if (json.Length > 1024 * 1024)
                {
                    throw new InvalidOperationException("the JWKS is larger than 1 MiB");
                }
                _keys = new JsonWebKeySet(json).GetSigningKeys();
                _fetchedAt = time.GetUtcNow();
                return _keys;
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2405, Level = LogLevel.Warning, Message = "MCP user tokens: the issuer's keys could not be fetched from {JwksUrl} ({Error}); calls with user tokens are refused until they can")]
        public static partial void JwksUnavailable(ILogger logger, string jwksUrl, string error);
    }
}
