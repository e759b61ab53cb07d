using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.Identity.Bearer;

/// <summary>
/// One issuer's signing keys, read from its JWKS (found through discovery unless a JWKS URL is configured) and kept
/// for <see cref="TokenIssuerSettings.CacheFor"/>. A token naming a <c>kid</c> the keys lack reads them again, but at
/// most once per <see cref="TokenIssuerSettings.RefreshInterval"/>, so forged <c>kid</c>s cannot make the proxy hammer
/// the issuer. When a read fails the keys already held stay in use.
/// </summary>
internal sealed class IssuerKeySet(TokenIssuerSettings settings) : IDisposable
{
    private const int MaxDocumentBytes = 1024 * 1024;
    private readonly SemaphoreSlim _fetching = new(1, 1);
    private volatile Snapshot? _current;

    public sealed record Snapshot(IList<SecurityKey> Keys, DateTimeOffset FetchedAt, Uri JwksUrl)
    {
        public bool Has(string? kid) => kid is null ? Keys.Count > 0 : Keys.Any(k => string.Equals(k.KeyId, kid, StringComparison.Ordinal));
    }

    /// <summary>How often the keys were read (for logs and tests of the rate limit).</summary>
    public int Reads { get; private set; }

    /// <summary>
    /// The keys; read again when they are older than the cache time, or when <paramref name="unknownKid"/> (a token
    /// named a key they lack) and the last read is older than the refresh interval.
    /// </summary>
    public async Task<(Snapshot Keys, bool Read)> GetAsync(HttpClient http, TimeProvider time, bool unknownKid, CancellationToken cancellationToken)
    {
        if (Fresh(_current, time.GetUtcNow(), unknownKid) is { } known)
        {
            return (known, false);
        }
        await _fetching.WaitAsync(cancellationToken);
        try
        {
            var current = _current;
            if (Fresh(current, time.GetUtcNow(), unknownKid) is { } again)
            {
                return (again, false);
            }
            try
            {
                var read = await ReadAsync(http, time, cancellationToken);
                _current = read;
                return (read, true);
            }
            catch (Exception ex) when (current is not null && ex is HttpRequestException or OperationCanceledException or JsonException or ArgumentException or InvalidDataException)
            {
                // Keep the keys held: an unavailable issuer should not turn away tokens that verify with them. The next
                // attempt waits for the refresh interval again.
                _current = current with { FetchedAt = time.GetUtcNow() - settings.CacheFor + settings.RefreshInterval };
                return (current, false);
            }
        }
        finally
        {
            _fetching.Release();
        }
    }

    private Snapshot? Fresh(Snapshot? snapshot, DateTimeOffset now, bool unknownKid)
    {
        if (snapshot is null)
        {
            return null;
        }
        var age = now - snapshot.FetchedAt;
        return age >= settings.CacheFor || (unknownKid && age >= settings.RefreshInterval) ? null : snapshot;
    }

    private async Task<Snapshot> ReadAsync(HttpClient http, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Timeout);
        Reads++;
        var jwksUrl = settings.JwksUrl ?? await DiscoverAsync(http, timeout.Token);
        var set = new JsonWebKeySet(await GetAsync(http, jwksUrl, timeout.Token));
        var keys = set.GetSigningKeys();
        if (keys.Count == 0)
        {
            throw new InvalidDataException("the JWKS has no signing keys");
        }
        return new Snapshot(keys, time.GetUtcNow(), jwksUrl);
    }

    private async Task<Uri> DiscoverAsync(HttpClient http, CancellationToken cancellationToken)
    {
        var issuerUri = new Uri(settings.Issuer);
        using var discovery = JsonDocument.Parse(await GetAsync(http, new Uri(settings.Issuer.TrimEnd('/') + "/.well-known/openid-configuration"), cancellationToken));
        var issuer = discovery.RootElement.TryGetProperty("issuer", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString()! : "";
        if (!string.Equals(issuer, settings.Issuer, StringComparison.Ordinal))
        {
            throw new InvalidDataException("the discovery document names another issuer");
        }
        if (!discovery.RootElement.TryGetProperty("jwks_uri", out var j) || j.ValueKind != JsonValueKind.String || !Uri.TryCreate(j.GetString(), UriKind.Absolute, out var jwksUri)
            || jwksUri.Scheme is not ("http" or "https") || (issuerUri.Scheme == "https" && jwksUri.Scheme != "https"))
        {
            throw new InvalidDataException("the discovery document has no usable jwks_uri");
        }
        return jwksUri;
    }

    private static async Task<string> GetAsync(HttpClient http, Uri url, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
        }
        if (response.Content.Headers.ContentLength > MaxDocumentBytes)
        {
            throw new InvalidDataException("the answer is larger than 1 MiB");
        }
        return await response.Content.ReadAsStringAsync(cancellationToken);
    }

    public void Dispose() => _fetching.Dispose();
}
