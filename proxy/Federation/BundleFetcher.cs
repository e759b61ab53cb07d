using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Federation;

/// <summary>
/// Keeps one foreign trust domain's bundle current from its SPIFFE bundle endpoint: fetches at start, then again after
/// the bundle's <c>spiffe_refresh_hint</c> (bounded by <see cref="FederationSettings.MinRefresh"/> and
/// <see cref="FederationSettings.MaxRefresh"/>). A failed fetch (endpoint down, TLS refused, malformed bundle) keeps the
/// last good bundle, is logged and reported through <see cref="Failed"/>, and is retried with capped exponential backoff.
/// Readers never wait: <see cref="Bundle"/> is the last good bundle, or null before the first.
/// </summary>
public sealed partial class BundleFetcher : IDisposable
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(500);

    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private SpiffeBundle? _bundle;
    private string? _lastError;
    private int _started;

    public BundleFetcher(FederationSettings settings, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        _time = time;
        _logger = logger;
    }

    public FederationSettings Settings { get; }

    /// <summary>The last good bundle, or null before the first fetch succeeded.</summary>
    public SpiffeBundle? Bundle => _bundle;

    /// <summary>Why the last fetch failed (null after a success): for /readyz and messages, never key material.</summary>
    public string? LastError => _lastError;

    /// <summary>When the last good bundle arrived.</summary>
    public DateTimeOffset? UpdatedAt { get; private set; }

    /// <summary>Called after every failed fetch with this fetcher and the reason (the metric and the audit event).</summary>
    public Action<BundleFetcher, string>? Failed { get; set; }

    /// <summary>Called after every successful fetch with the trust domain.</summary>
    public Action<string>? Succeeded { get; set; }

    /// <summary>Starts the refresh loop (once); it runs until <see cref="Dispose"/>.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            _ = RunAsync();
        }
    }

    private async Task RunAsync()
    {
        var failures = 0;
        while (!_stop.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                var bundle = await FetchAsync(_stop.Token);
                _bundle = bundle;
                UpdatedAt = _time.GetUtcNow();
                _lastError = null;
                failures = 0;
                wait = Settings.NextRefresh(bundle.RefreshHint);
                Log.Fetched(_logger, Settings.TrustDomain, Settings.BundleEndpoint.ToString(), bundle.X509Authorities.Count, bundle.JwtAuthorities.Count, bundle.Sequence ?? -1, wait);
                Succeeded?.Invoke(Settings.TrustDomain);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or InvalidDataException or OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
            {
                var reason = Reason(ex);
                _lastError = reason;
                failures++;
                // Capped exponential backoff; never longer than the refresh interval a good bundle would have had.
                var cap = Settings.NextRefresh(_bundle?.RefreshHint);
                var backoff = TimeSpan.FromTicks(Math.Min(cap.Ticks, FirstRetry.Ticks * (1L << Math.Min(failures - 1, 20))));
                wait = backoff;
                Log.FetchFailed(_logger, Settings.TrustDomain, Settings.BundleEndpoint.ToString(), reason, _bundle is not null, wait);
                Failed?.Invoke(this, reason);
            }
            try
            {
                await Task.Delay(wait, _time, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static string Reason(Exception ex)
    {
        var message = ex.Message;
        for (var inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            message += ": " + inner.Message;
        }
        return ex is OperationCanceledException ? $"no answer within {FederationSettings.FetchTimeout.TotalSeconds:0}s" : message;
    }

    /// <summary>One fetch: TLS per the profile, a 200 with a bundle of at most <see cref="SpiffeBundle.MaxBytes"/>, parsed strictly.</summary>
    private async Task<SpiffeBundle> FetchAsync(CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler
        {
            SslOptions = ClientOptions(),
            AllowAutoRedirect = false,
            UseProxy = false,
            PooledConnectionLifetime = TimeSpan.Zero,
        };
        using var client = new HttpClient(handler) { Timeout = FederationSettings.FetchTimeout };
        using var response = await client.GetAsync(Settings.BundleEndpoint, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidDataException($"the bundle endpoint answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        if (response.Content.Headers.ContentLength > SpiffeBundle.MaxBytes)
        {
            throw new InvalidDataException($"the bundle is {response.Content.Headers.ContentLength} bytes, more than the {SpiffeBundle.MaxBytes} accepted");
        }
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[SpiffeBundle.MaxBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }
        return SpiffeBundle.Parse(buffer.AsSpan(0, length));
    }

    private SslClientAuthenticationOptions ClientOptions()
    {
        if (Settings.Profile == BundleEndpointProfile.HttpsWeb)
        {
            if (Settings.CaFilePath is not { } caFile)
            {
                // Web PKI: the system's roots, host name checked.
                return new SslClientAuthenticationOptions();
            }
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
                DisableCertificateDownloads = true,
            };
            policy.CustomTrustStore.AddRange(TrustBundleSet.LoadPem(caFile));
            return new SslClientAuthenticationOptions { CertificateChainPolicy = policy };
        }
        var authorities = EndpointAuthorities();
        var expected = Settings.EndpointSpiffeId!;
        return new SslClientAuthenticationOptions
        {
            // https_spiffe: the SPIFFE ID authenticates the endpoint, not its host name.
            RemoteCertificateValidationCallback = (_, certificate, chain, _) => VerifyEndpointSvid(certificate, chain, authorities, expected),
        };
    }

    /// <summary>
    /// The bundle the endpoint's X.509-SVID must chain to: the one last fetched when the endpoint is in the trust domain
    /// it serves (the usual SPIRE server case, so the bundle's own rotation carries the endpoint's), else the bootstrap file.
    /// </summary>
    private X509Certificate2Collection EndpointAuthorities()
    {
        if (Settings.EndpointTrustDomain == Settings.TrustDomain && _bundle is { X509Authorities.Count: > 0 } current)
        {
            return current.X509Authorities;
        }
        return Settings.BootstrapBundlePath is { } path
            ? TrustBundleSet.LoadPem(path)
            : throw new InvalidDataException($"no bundle of '{Settings.EndpointTrustDomain}' is in hand to authenticate the endpoint; set bootstrapBundle");
    }

    private static bool VerifyEndpointSvid(X509Certificate? presented, X509Chain? sent, X509Certificate2Collection authorities, string expected)
    {
        if (presented is null)
        {
            return false;
        }
        var leaf = presented as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        var uris = UriSanReader.Read(leaf, out _);
        if (uris is not { Count: 1 } || !string.Equals(uris[0], expected, StringComparison.Ordinal))
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        if (sent?.ChainPolicy.ExtraStore is { Count: > 0 } extra)
        {
            chain.ChainPolicy.ExtraStore.AddRange(extra);
        }
        return chain.Build(leaf);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Federated bundle of {TrustDomain} from {Endpoint}: {X509Count} X.509 and {JwtCount} JWT authorities (sequence {Sequence}); next refresh in {Next}")]
        public static partial void Fetched(ILogger logger, string trustDomain, string endpoint, int x509Count, int jwtCount, long sequence, TimeSpan next);

        [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Federated bundle of {TrustDomain} from {Endpoint} not refreshed ({Reason}); last good bundle kept: {Kept}; retrying in {Next}")]
        public static partial void FetchFailed(ILogger logger, string trustDomain, string endpoint, string reason, bool kept, TimeSpan next);
    }
}
