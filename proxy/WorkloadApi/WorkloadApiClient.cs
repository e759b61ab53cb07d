using System.Net.Security;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Identity;
using SecretlessProxy.WorkloadApi.Protocol;

namespace SecretlessProxy.WorkloadApi;

/// <summary>
/// The SPIFFE Workload API client (gRPC over the agent's Unix socket), as go-spiffe's <c>workloadapi.X509Source</c>:
/// two streams (FetchX509SVID, FetchX509Bundles) keep the proxy's X.509-SVID and the trust bundles (own and federated)
/// current, so a rotation applies to the next handshake with no restart and no file. A stream that cannot be opened
/// or breaks is opened again with capped exponential backoff; until both have delivered, <see cref="NotReadyReason"/>
/// says why (and /readyz with it). JWT-SVIDs for the proxy are fetched on demand (<see cref="FetchJwtSvidAsync"/>).
/// </summary>
public sealed partial class WorkloadApiClient : IX509Source, IDisposable
{
    /// <summary>The header every Workload API call carries (agents refuse calls without it).</summary>
    private static readonly Metadata SecurityHeader = new() { { "workload.spiffe.io", "true" } };

    private readonly WorkloadApiSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly GrpcChannel _channel;
    private readonly SpiffeWorkloadAPI.SpiffeWorkloadAPIClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly ResiliencePipeline _retry;
    private Svid? _svid;
    private TrustBundleSet? _bundles;
    private string? _svidError;
    private string? _bundlesError;
    private int _started;

    public WorkloadApiClient(WorkloadApiSettings settings, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _time = time;
        _logger = logger;
        var socketPath = settings.SocketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
            // Streams stay open for hours; the agent's rotations arrive on them.
            KeepAlivePingDelay = TimeSpan.FromSeconds(30),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        _client = new SpiffeWorkloadAPI.SpiffeWorkloadAPIClient(_channel);
        var initial = TimeSpan.FromMilliseconds(Math.Min(500, settings.RetryMaxDelay.TotalMilliseconds));
        _retry = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => !_stop.IsCancellationRequested),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = initial,
                MaxDelay = settings.RetryMaxDelay,
            })
            .Build();
    }

    public WorkloadApiSettings Settings => _settings;

    public SslStreamCertificateContext? Certificate => _svid?.Context;

    public TrustBundleSet? Bundles => _bundles;

    /// <summary>The proxy's SPIFFE ID (from its current X.509-SVID), or null before the first.</summary>
    public SpiffeId? SpiffeId => _svid?.Id;

    /// <summary>When the current X.509-SVID expires.</summary>
    public DateTimeOffset? CertificateNotAfter => _svid?.NotAfter;

    /// <summary>Null when an unexpired X.509-SVID and the bundles are in hand; otherwise why not (for /readyz: never a secret).</summary>
    public string? NotReadyReason
    {
        get
        {
            if (_started == 0)
            {
                return $"the SPIFFE Workload API at {_settings.Address} is not contacted by this process";
            }
            var svid = _svid;
            if (svid is null)
            {
                return $"waiting for the proxy's X.509-SVID from the SPIFFE Workload API at {_settings.Address}" + (_svidError is { } error ? ": " + error : "");
            }
            if (svid.NotAfter <= _time.GetUtcNow())
            {
                return $"the proxy's X.509-SVID from the SPIFFE Workload API at {_settings.Address} expired at {svid.NotAfter:O}" + (_svidError is { } error ? ": " + error : "");
            }
            if (_bundles is null)
            {
                return $"waiting for the trust bundles from the SPIFFE Workload API at {_settings.Address}" + (_bundlesError is { } error ? ": " + error : "");
            }
            return null;
        }
    }

    /// <summary>Opens both streams (once); they run until <see cref="Dispose"/>.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            return;
        }
        _ = WatchAsync("FetchX509SVID", ReadSvidsAsync, error => _svidError = error);
        _ = WatchAsync("FetchX509Bundles", ReadBundlesAsync, error => _bundlesError = error);
    }

    /// <summary>
    /// A JWT-SVID of the proxy for <paramref name="audiences"/> (the first is the token's audience; more are added to
    /// <c>aud</c>), for <paramref name="spiffeId"/> or the proxy's first identity. Throws <see cref="WorkloadApiException"/>
    /// with the reason (never the token) when the agent cannot be reached or returns none.
    /// </summary>
    public async Task<JwtSvid> FetchJwtSvidAsync(IReadOnlyList<string> audiences, string? spiffeId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(audiences);
        if (audiences.Count == 0)
        {
            throw new ArgumentException("a JWT-SVID needs at least one audience", nameof(audiences));
        }
        var request = new JWTSVIDRequest { SpiffeId = spiffeId ?? "" };
        request.Audience.Add(audiences);
        JWTSVIDResponse response;
        try
        {
            response = await _client.FetchJWTSVIDAsync(request, SecurityHeader, cancellationToken: cancellationToken);
        }
        catch (RpcException ex)
        {
            throw new WorkloadApiException($"FetchJWTSVID at {_settings.Address} failed: {Describe(ex)}", ex);
        }
        var svid = response.Svids.FirstOrDefault() ?? throw new WorkloadApiException($"FetchJWTSVID at {_settings.Address} returned no JWT-SVID");
        if (!Identity.SpiffeId.TryParse(svid.SpiffeId, out var id, out var error))
        {
            throw new WorkloadApiException($"FetchJWTSVID at {_settings.Address} returned a JWT-SVID with an invalid SPIFFE ID: {error}");
        }
        DateTimeOffset expires;
        try
        {
            expires = new DateTimeOffset(new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(svid.Svid).ValidTo, TimeSpan.Zero);
        }
        catch (ArgumentException ex)
        {
            // The token itself is never put in the message.
            throw new WorkloadApiException($"FetchJWTSVID at {_settings.Address} returned a JWT-SVID that is not a JWT", ex);
        }
        return new JwtSvid(id, new SecretValue(svid.Svid), expires);
    }

    /// <summary>Keeps one stream open: reads it until it ends or breaks, then opens it again (with backoff while it keeps failing).</summary>
    private async Task WatchAsync(string stream, Func<CancellationToken, Task> read, Action<string?> error)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await _retry.ExecuteAsync(async cancellationToken =>
                {
                    try
                    {
                        await read(cancellationToken);
                    }
                    catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                    {
                        var reason = ex is RpcException rpc ? Describe(rpc) : ex.Message;
                        error(reason);
                        Log.StreamFailed(_logger, stream, _settings.Address, reason);
                        throw;
                    }
                }, token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task ReadSvidsAsync(CancellationToken cancellationToken)
    {
        using var call = _client.FetchX509SVID(new X509SVIDRequest(), SecurityHeader, cancellationToken: cancellationToken);
        await foreach (var response in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            if (response.Svids.Count == 0)
            {
                throw new InvalidDataException("the Workload API sent an update without an X.509-SVID (is the proxy registered with the agent?)");
            }
            var (context, id, notAfter) = X509SvidReader.Read(response.Svids[0]);
            _svid = new Svid(context, id, notAfter);
            _svidError = null;
            Log.SvidUpdated(_logger, id.Value, notAfter);
        }
        throw new RpcException(new Status(StatusCode.Unavailable, "the FetchX509SVID stream ended"));
    }

    private async Task ReadBundlesAsync(CancellationToken cancellationToken)
    {
        using var call = _client.FetchX509Bundles(new X509BundlesRequest(), SecurityHeader, cancellationToken: cancellationToken);
        await foreach (var response in call.ResponseStream.ReadAllAsync(cancellationToken))
        {
            var bundles = X509SvidReader.Bundles(response.Bundles);
            _bundles = bundles;
            _bundlesError = null;
            Log.BundlesUpdated(_logger, string.Join(", ", bundles.TrustDomains.Order(StringComparer.Ordinal)), bundles.Fingerprint);
        }
        throw new RpcException(new Status(StatusCode.Unavailable, "the FetchX509Bundles stream ended"));
    }

    private static string Describe(RpcException ex)
    {
        var cause = ex.Status.DebugException?.GetBaseException().Message;
        var detail = string.IsNullOrEmpty(ex.Status.Detail) ? "" : ": " + ex.Status.Detail;
        return $"{ex.StatusCode}{detail}{(cause is null ? "" : $" ({cause})")}";
    }

    public void Dispose()
    {
        _stop.Cancel();
        _channel.Dispose();
        _stop.Dispose();
    }

    private sealed record Svid(SslStreamCertificateContext Context, SpiffeId Id, DateTimeOffset NotAfter);

    private static partial class Log
    {
        [LoggerMessage(EventId = 7001, Level = LogLevel.Information, Message = "X.509-SVID {SpiffeId} from the Workload API (expires {NotAfter:O}): new TLS handshakes present it")]
        public static partial void SvidUpdated(ILogger logger, string spiffeId, DateTimeOffset notAfter);

        [LoggerMessage(EventId = 7002, Level = LogLevel.Information, Message = "Trust bundles from the Workload API: {TrustDomains} (fingerprint {Fingerprint})")]
        public static partial void BundlesUpdated(ILogger logger, string trustDomains, string fingerprint);

        [LoggerMessage(EventId = 7003, Level = LogLevel.Warning, Message = "Workload API {Stream} at {Address} failed ({Reason}); retrying with backoff")]
        public static partial void StreamFailed(ILogger logger, string stream, string address, string reason);
    }
}
