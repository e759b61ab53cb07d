namespace SecretlessProxy.Identity.Bearer;

/// <summary>How a verified token's claims name the caller.</summary>
public enum ClaimMapping
{
    /// <summary>A JWT-SVID: <c>sub</c> is the caller's SPIFFE ID (in the issuer's trust domain).</summary>
    JwtSvid,

    /// <summary>A Kubernetes service-account token: <c>sub</c> <c>system:serviceaccount:NS:SA</c> becomes <c>spiffe://TD/ns/NS/sa/SA</c>.</summary>
    Kubernetes,

    /// <summary>Any OIDC token: a SPIFFE ID template whose <c>{claim}</c> placeholders are filled from the token (CI, cloud workload identity).</summary>
    Template,
}

/// <summary>
/// A compiled <c>tokenIssuers.NAME</c> entry: whose tokens are accepted (the exact <c>iss</c>), where its keys are
/// (discovery or a JWKS URL), which audiences and algorithms, the clock rules, and how the claims name the caller.
/// </summary>
public sealed record TokenIssuerSettings
{
    public required string Name { get; init; }

    /// <summary>The exact <c>iss</c> of the issuer's tokens.</summary>
    public required string Issuer { get; init; }

    /// <summary>The issuer's JWKS; null when it is found through discovery (<c>ISSUER/.well-known/openid-configuration</c>).</summary>
    public Uri? JwksUrl { get; init; }

    /// <summary>The audiences a token must name one of (required: a token minted for another service is refused).</summary>
    public required IReadOnlyList<string> Audiences { get; init; }

    /// <summary>The signing algorithms accepted (asymmetric only: never <c>none</c>, never HMAC).</summary>
    public required IReadOnlyList<string> Algorithms { get; init; }

    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest a token may be valid for (exp − iat): long-lived tokens are refused.</summary>
    public TimeSpan MaxLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>How long keys are used before they are read again.</summary>
    public TimeSpan CacheFor { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The least time between two reads of the keys a token with an unknown <c>kid</c> may cause.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public required ClaimMapping Mapping { get; init; }

    /// <summary>The trust domain the caller's SPIFFE ID is in (Kubernetes), or must be in (JWT-SVID; null: the listener's bundles do not matter).</summary>
    public string? TrustDomain { get; init; }

    /// <summary>The <c>spiffeId</c> template of <see cref="ClaimMapping.Template"/>, e.g. <c>spiffe://ci.example.org/github/{repository}</c>.</summary>
    public string? SpiffeIdTemplate { get; init; }

    /// <summary>The claims copied into the identity's facts as <c>claim.NAME</c> (e.g. repository, ref, environment).</summary>
    public IReadOnlyList<string> FactClaims { get; init; } = [];
}
