using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity.Bearer;

/// <summary>
/// The bearer-token attestor: a JWT in a listener's configured header (a JWT-SVID, a Kubernetes service-account
/// token, any OIDC token) verified per request with Microsoft.IdentityModel.JsonWebTokens against the keys of the
/// issuer its <c>iss</c> names: an allowed asymmetric algorithm, a known key, one of the configured audiences, and
/// <c>exp</c> (required), <c>nbf</c> and <c>iat</c> on the proxy's clock with bounded skew and a maximum lifetime. The
/// claims then name the caller (<see cref="TokenClaimMapper"/>). The token itself is never logged, echoed or kept.
/// </summary>
public sealed partial class BearerTokenAttestor(TimeProvider time, ILogger<BearerTokenAttestor> logger) : IDisposable
{
    private const int MaxTokenLength = 16 * 1024;
    private const string Scheme = "Bearer ";

    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };
    private readonly ConcurrentDictionary<string, IssuerKeySet> _keys = new(StringComparer.Ordinal);

    /// <summary>Why a listener that takes bearer tokens refused a request that carried none (and no other identity).</summary>
    public static Attestation Missing(BearerSettings bearer)
    {
        ArgumentNullException.ThrowIfNull(bearer);
        return Attestation.Refused(RefusalCatalog.BearerTokenMissing.Reason,
            $"this listener identifies callers by a token in the {bearer.Header} header{(bearer.IsAuthorization ? " (Authorization: Bearer TOKEN)" : "")}; none was sent");
    }

    /// <summary>Why a bearer token that arrived in clear text from beyond this host was refused.</summary>
    public static Attestation InsecureTransport(string peer) => Attestation.Refused(RefusalCatalog.BearerTokenInsecureTransport.Reason,
        $"a bearer token is accepted only over TLS or from this host (loopback, a Unix socket); this one came in clear text from {peer}. The token may have been seen on the way: have it reissued");

    /// <summary>The attestation the header's values make (refused unless exactly one verifies).</summary>
    public async Task<Attestation> AttestAsync(BearerSettings bearer, Microsoft.Extensions.Primitives.StringValues values, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(bearer);
        if (values.Count != 1 || values[0] is not { } value)
        {
            return Refused(RefusalCatalog.BearerTokenMalformed, $"the {bearer.Header} header must appear once, with one token");
        }
        var token = value.AsSpan().Trim();
        if (token.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            token = token[Scheme.Length..].TrimStart();
        }
        else if (bearer.IsAuthorization)
        {
            return Refused(RefusalCatalog.BearerTokenMalformed, "the Authorization header does not use the Bearer scheme (Authorization: Bearer TOKEN)");
        }
        if (token.Length == 0 || token.Length > MaxTokenLength)
        {
            return Refused(RefusalCatalog.BearerTokenMalformed, "the token is empty or longer than 16 KiB");
        }
        var text = token.ToString();
        JsonWebToken unverified;
        try
        {
            // Reading only (the library's parser): which issuer, algorithm and key the token claims, to pick what verifies it.
            unverified = _handler.ReadJsonWebToken(text);
        }
        catch (Exception ex) when (ex is ArgumentException or SecurityTokenMalformedException or JsonException)
        {
            return Refused(RefusalCatalog.BearerTokenMalformed, "the token is not a JWT (three base64url parts: header, claims, signature)");
        }
        if (bearer.IssuerOf(unverified.Issuer) is not { } issuer)
        {
            return Refused(RefusalCatalog.BearerTokenIssuerUnknown,
                $"the token's issuer '{Shorten(unverified.Issuer)}' is not one this listener trusts (listeners[].bearer.issuers: {string.Join(", ", bearer.Issuers.Select(i => i.Name))})");
        }
        if (!issuer.Algorithms.Contains(unverified.Alg, StringComparer.Ordinal))
        {
            return Refused(RefusalCatalog.BearerTokenAlgorithmRefused,
                $"the token is signed with alg '{Shorten(unverified.Alg)}'; issuer '{issuer.Name}' allows {string.Join(", ", issuer.Algorithms)}");
        }
        var set = _keys.GetOrAdd(issuer.Name + "|" + issuer.Issuer + "|" + issuer.JwksUrl, _ => new IssuerKeySet(issuer));
        IssuerKeySet.Snapshot keys;
        try
        {
            (keys, var read) = await set.GetAsync(_http, time, unknownKid: false, cancellationToken);
            if (read)
            {
                Log.KeysRead(logger, issuer.Name, keys.JwksUrl.GetLeftPart(UriPartial.Path), keys.Keys.Count);
            }
            if (!keys.Has(unverified.Kid))
            {
                (keys, read) = await set.GetAsync(_http, time, unknownKid: true, cancellationToken);
                if (read)
                {
                    Log.KeysRefetched(logger, issuer.Name, keys.JwksUrl.GetLeftPart(UriPartial.Path), keys.Keys.Count);
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException or ArgumentException or InvalidDataException && !cancellationToken.IsCancellationRequested)
        {
            Log.KeysFailed(logger, issuer.Name, ex.GetType().Name);
            return Refused(RefusalCatalog.BearerIssuerUnavailable, $"the keys of issuer '{issuer.Name}' could not be read ({ex.GetType().Name}); try again shortly");
        }
        if (!keys.Has(unverified.Kid))
        {
            return Refused(RefusalCatalog.BearerTokenKeyUnknown,
                $"the token names signing key '{Shorten(unverified.Kid)}', which issuer '{issuer.Name}' does not publish (its keys are read again at most every {issuer.RefreshInterval.TotalSeconds:0}s)");
        }
        var result = await _handler.ValidateTokenAsync(text, Parameters(issuer, keys.Keys));
        if (!result.IsValid || result.SecurityToken is not JsonWebToken jwt)
        {
            // The exception's type says what failed; its message may quote the token's claims, so it goes nowhere.
            return result.Exception switch
            {
                SecurityTokenInvalidAudienceException => Refused(RefusalCatalog.BearerTokenAudienceMismatch,
                    $"the token is not for this proxy: its aud names none of issuer '{issuer.Name}''s audiences ({string.Join(", ", issuer.Audiences)})"),
                SecurityTokenInvalidIssuerException => Refused(RefusalCatalog.BearerTokenIssuerUnknown, $"the token's issuer is not '{issuer.Issuer}'"),
                SecurityTokenNoExpirationException => Refused(RefusalCatalog.BearerTokenExpired, "the token has no exp; tokens without an expiry are refused"),
                SecurityTokenSignatureKeyNotFoundException => Refused(RefusalCatalog.BearerTokenKeyUnknown, $"no key of issuer '{issuer.Name}' verifies the token"),
                SecurityTokenInvalidAlgorithmException => Refused(RefusalCatalog.BearerTokenAlgorithmRefused, $"the token's algorithm is not allowed for issuer '{issuer.Name}'"),
                _ => Refused(RefusalCatalog.BearerTokenSignatureInvalid, $"the token's signature does not verify with the keys of issuer '{issuer.Name}' ({result.Exception?.GetType().Name ?? "invalid"})"),
            };
        }
        if (Lifetime(issuer, jwt, time.GetUtcNow()) is { } lifetimeRefusal)
        {
            return lifetimeRefusal;
        }
        var id = TokenClaimMapper.Map(issuer, name => jwt.TryGetClaim(name, out var claim) ? claim.Value : null, out var facts, out var error);
        if (id is null)
        {
            return Refused(RefusalCatalog.BearerTokenUnmapped, error!);
        }
        return Attestation.Verified(new WorkloadIdentity(id, new DateTimeOffset(jwt.ValidTo, TimeSpan.Zero), AttestationKind.Jwt, facts));
    }

    private static TokenValidationParameters Parameters(TokenIssuerSettings issuer, IList<SecurityKey> keys) => new()
    {
        ValidIssuer = issuer.Issuer,
        ValidAudiences = issuer.Audiences,
        IssuerSigningKeys = keys,
        ValidAlgorithms = issuer.Algorithms,
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        RequireAudience = true,
        ValidateIssuer = true,
        ValidateAudience = true,
        ValidateIssuerSigningKey = false,
        // Checked afterwards on the proxy's clock (TimeProvider), with the issuer's skew and maximum lifetime.
        ValidateLifetime = false,
    };

    private static Attestation? Lifetime(TokenIssuerSettings issuer, JsonWebToken jwt, DateTimeOffset now)
    {
        var utc = now.UtcDateTime;
        var skew = issuer.ClockSkew;
        if (jwt.ValidTo == DateTime.MinValue)
        {
            return Refused(RefusalCatalog.BearerTokenExpired, "the token has no exp; tokens without an expiry are refused");
        }
        if (jwt.ValidTo + skew <= utc)
        {
            return Refused(RefusalCatalog.BearerTokenExpired, $"the token expired at {jwt.ValidTo:O} (the proxy's clock allows {skew.TotalSeconds:0}s of skew); get a fresh one");
        }
        if (jwt.ValidFrom != DateTime.MinValue && jwt.ValidFrom - skew > utc)
        {
            return Refused(RefusalCatalog.BearerTokenNotYetValid, $"the token is not valid before {jwt.ValidFrom:O} (nbf)");
        }
        if (jwt.IssuedAt != DateTime.MinValue && jwt.IssuedAt - skew > utc)
        {
            return Refused(RefusalCatalog.BearerTokenNotYetValid, $"the token says it was issued at {jwt.IssuedAt:O} (iat), in the future: check the issuer's clock");
        }
        var start = jwt.IssuedAt != DateTime.MinValue ? jwt.IssuedAt : jwt.ValidFrom != DateTime.MinValue ? jwt.ValidFrom : utc;
        if (jwt.ValidTo - start > issuer.MaxLifetime)
        {
            return Refused(RefusalCatalog.BearerTokenLifetimeTooLong,
                $"the token is valid for {(jwt.ValidTo - start).TotalMinutes:0} min; issuer '{issuer.Name}' allows at most {issuer.MaxLifetime.TotalMinutes:0} min (maxLifetime)");
        }
        return null;
    }

    private static Attestation Refused(Refusal refusal, string detail) => Attestation.Refused(refusal.Reason, detail);

    /// <summary>A header field of the token (issuer, kid, alg) as a detail may quote it: short, printable.</summary>
    private static string Shorten(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "(none)";
        }
        var clean = new string([.. text.Take(100).Select(c => char.IsControl(c) ? '?' : c)]);
        return text.Length > 100 ? clean + "…" : clean;
    }

    public void Dispose()
    {
        _http.Dispose();
        foreach (var set in _keys.Values)
        {
            set.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2501, Level = LogLevel.Information, Message = "Bearer tokens: read {Count} signing key(s) of issuer {Issuer} from {Jwks}")]
        public static partial void KeysRead(ILogger logger, string issuer, string jwks, int count);

        [LoggerMessage(EventId = 2502, Level = LogLevel.Information, Message = "Bearer tokens: a token named a key issuer {Issuer} had not published; read {Count} key(s) again from {Jwks}")]
        public static partial void KeysRefetched(ILogger logger, string issuer, string jwks, int count);

        [LoggerMessage(EventId = 2503, Level = LogLevel.Warning, Message = "Bearer tokens: the keys of issuer {Issuer} could not be read ({Error}); its tokens are refused with 503 until they can")]
        public static partial void KeysFailed(ILogger logger, string issuer, string error);
    }
}
