using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Federation;

/// <summary>
/// Serves the proxy's own trust domain's SPIFFE bundle (<c>spiffe.bundleEndpoint</c>) for other trust domains to
/// federate with: a JWK Set with each CA as an <c>x509-svid</c> key, <c>spiffe_sequence</c> (raised whenever the CAs
/// change, for this process's life) and <c>spiffe_refresh_hint</c>. The proxy issues no JWT-SVIDs, so the bundle holds
/// no <c>jwt-svid</c> key. The bundle is public: the request needs no identity.
/// </summary>
public sealed class BundleEndpoint
{
    private readonly Lock _lock = new();
    private string? _fingerprint;
    private long _sequence;

    /// <summary>True when the request is a call of the configured endpoint on its listener.</summary>
    public static bool Handles(BundleEndpointSettings? settings, string listener, PathString path) =>
        settings is not null && string.Equals(settings.Listener, listener, StringComparison.OrdinalIgnoreCase)
        && string.Equals(path.Value, settings.Path, StringComparison.Ordinal);

    /// <summary>Answers with the bundle of <paramref name="bundles"/>' <see cref="BundleEndpointSettings.TrustDomain"/> (503 while none is in hand).</summary>
    public async Task HandleAsync(HttpContext context, BundleEndpointSettings settings, TrustBundleSet? bundles)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(settings);
        var response = context.Response;
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }
        if (bundles is null || !bundles.TryGetBundle(settings.TrustDomain, out var authorities) || authorities.Count == 0)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            response.ContentType = "application/problem+json";
            using var problem = new MemoryStream();
            using (var json = new System.Text.Json.Utf8JsonWriter(problem))
            {
                json.WriteStartObject();
                json.WriteString("type", "about:blank");
                json.WriteString("title", "Bundle not available");
                json.WriteNumber("status", 503);
                json.WriteString("detail", $"the proxy has no bundle of trust domain '{settings.TrustDomain}' yet");
                json.WriteEndObject();
            }
            await response.Body.WriteAsync(problem.ToArray(), context.RequestAborted);
            return;
        }
        var body = SpiffeBundle.Write(authorities, Array.Empty<JsonWebKey>(), Sequence(authorities), settings.RefreshHint);
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        response.Headers.CacheControl = "no-store";
        response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await response.Body.WriteAsync(body, context.RequestAborted);
        }
    }

    /// <summary>The sequence number of this content: unchanged CAs keep theirs, new ones get the next.</summary>
    private long Sequence(X509Certificate2Collection authorities)
    {
        var fingerprint = string.Join(',', authorities.Select(c => c.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256)).Order(StringComparer.Ordinal));
        lock (_lock)
        {
            if (fingerprint != _fingerprint)
            {
                _fingerprint = fingerprint;
                _sequence++;
            }
            return _sequence;
        }
    }
}
