namespace SecretlessProxy.Federation;

/// <summary>How a bundle endpoint is authenticated (SPIFFE Federation spec, §5).</summary>
public enum BundleEndpointProfile
{
    /// <summary><c>https_web</c>: the endpoint's server certificate is checked as any HTTPS server's (Web PKI, or <c>caFile</c>), host name included.</summary>
    HttpsWeb,

    /// <summary><c>https_spiffe</c>: the endpoint presents an X.509-SVID naming <c>endpointSpiffeId</c>, chained to that trust domain's bundle.</summary>
    HttpsSpiffe,
}

/// <summary>
/// One compiled <c>spiffe.federation.TRUST_DOMAIN</c> entry. Files are paths, read at each fetch, so a rotated CA file
/// or bootstrap bundle applies to the next fetch; equal settings keep their fetcher (and its bundle) across reloads.
/// </summary>
public sealed record FederationSettings(
    string TrustDomain,
    Uri BundleEndpoint,
    BundleEndpointProfile Profile,
    string? EndpointSpiffeId,
    string? BootstrapBundlePath,
    string? CaFilePath,
    TimeSpan MinRefresh,
    TimeSpan MaxRefresh)
{
    public static readonly TimeSpan DefaultMinRefresh = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan DefaultMaxRefresh = TimeSpan.FromHours(1);

    /// <summary>The refresh interval when the bundle gives no <c>spiffe_refresh_hint</c> (before the min/max bounds).</summary>
    public static readonly TimeSpan DefaultRefresh = TimeSpan.FromMinutes(5);

    /// <summary>The time allowed for one fetch (connect, TLS, response).</summary>
    public static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The endpoint's SPIFFE ID's trust domain (https_spiffe).</summary>
    public string? EndpointTrustDomain => EndpointSpiffeId is { } id && Identity.SpiffeId.TryParse(id, out var parsed, out _) ? parsed.TrustDomain : null;

    /// <summary>How long to wait after a fetch whose bundle gave <paramref name="hint"/>.</summary>
    public TimeSpan NextRefresh(TimeSpan? hint)
    {
        var wanted = hint ?? DefaultRefresh;
        return wanted < MinRefresh ? MinRefresh : wanted > MaxRefresh ? MaxRefresh : wanted;
    }
}
