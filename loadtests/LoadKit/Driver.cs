using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace SecretlessProxy.LoadKit;

/// <summary>What one load run measured.</summary>
internal sealed record DriveResult(long Requests, long Errors, double Seconds, double Rps, double P50Us, double P90Us, double P99Us, double P999Us, string? FirstError)
{
    public static DriveResult From(List<long> latenciesTicks, long errors, double seconds, string? firstError)
    {
        var sorted = latenciesTicks.ToArray();
        Array.Sort(sorted);
        double At(double q) => sorted.Length == 0 ? double.NaN
            : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)] * 1_000_000.0 / Stopwatch.Frequency;
        return new DriveResult(sorted.Length + errors, errors, seconds, sorted.Length / seconds, At(0.50), At(0.90), At(0.99), At(0.999), firstError);
    }
}

/// <summary>Options of one load run.</summary>
/// <remarks><see cref="Unix"/>: connect every connection to this Unix domain socket instead of the URL's host and port
/// (the URL still gives the scheme, the Host header and the path).
/// <see cref="Proxy"/>: send through this forward proxy (an https URL is tunnelled with CONNECT); <see cref="NewConnections"/>:
/// <c>Connection: close</c> on every request, so every request opens a new connection (through a proxy, a new tunnel).
/// <see cref="PostJson"/>: send every request as a POST of this JSON body (an MCP <c>tools/call</c>) instead of a GET.</remarks>
internal sealed record DriveOptions(Uri Url, int Concurrency, TimeSpan Warmup, TimeSpan Duration, double Rate, string? Cert, string? Key, string? Ca, bool Http2, string? Unix = null,
    string? Proxy = null, bool NewConnections = false, string? PostJson = null);

/// <summary>
/// The load driver: <c>SocketsHttpHandler</c> with an optional client certificate (or, with
/// <see cref="DriveOptions.Unix"/>, over a Unix domain socket), N connections. Closed loop: N
/// workers each send the next request when the last answered. Open loop (<see cref="DriveOptions.Rate"/> &gt; 0):
/// requests are due at a fixed rate whatever the answers do, and latency counts from when a request was due, so a
/// stall shows in the latency instead of hiding as fewer requests (coordinated omission).
/// </summary>
internal static class Driver
{
    public static async Task<DriveResult> RunAsync(DriveOptions options, Action? measuring = null)
    {
        using var client = CreateClient(options);
        if (options.Warmup > TimeSpan.Zero)
        {
            await ClosedLoopAsync(client, options with { Duration = options.Warmup });
        }
        measuring?.Invoke();
        // The open loop's sender sleeps between sends: on a thread of its own, not one of the pool's.
        return options.Rate > 0
            ? await Task.Factory.StartNew(() => OpenLoopAsync(client, options), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()
            : await ClosedLoopAsync(client, options);
    }

    private static HttpClient CreateClient(DriveOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options.Concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            EnableMultipleHttp2Connections = true,
            UseProxy = options.Proxy is not null,
            Proxy = options.Proxy is null ? null : new WebProxy(options.Proxy),
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ActivityHeadersPropagator = null,
        };
        if (options.Unix is { } socketPath)
        {
            // Every connection goes to the socket file; the URL's host only names the Host header.
            var endpoint = new UnixDomainSocketEndPoint(socketPath);
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(endpoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        if (options.Url.Scheme == Uri.UriSchemeHttps)
        {
            var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
            if (options.Ca is not null)
            {
                policy.CustomTrustStore.Add(X509CertificateLoader.LoadCertificateFromFile(options.Ca));
            }
            X509Certificate2? certificate = null;
            if (options.Cert is not null && options.Key is not null)
            {
                using var pem = X509Certificate2.CreateFromPemFile(options.Cert, options.Key);
                certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = policy,
                ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, null, offline: true),
            };
        }
        return new HttpClient(handler)
        {
            DefaultRequestVersion = options.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    private static async Task<DriveResult> ClosedLoopAsync(HttpClient client, DriveOptions options)
    {
        var end = Stopwatch.GetTimestamp() + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        var lists = new List<long>[options.Concurrency];
        long errors = 0;
        string? firstError = null;
        var started = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, options.Concurrency).Select(i => Task.Run(async () =>
        {
            var list = lists[i] = new List<long>(64 * 1024);
            while (Stopwatch.GetTimestamp() < end)
            {
                var t0 = Stopwatch.GetTimestamp();
                var error = await SendAsync(client, options.Url, options.NewConnections, options.PostJson);
                if (error is null)
                {
                    list.Add(Stopwatch.GetTimestamp() - t0);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, error, null);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        var seconds = (Stopwatch.GetTimestamp() - started) / (double)Stopwatch.Frequency;
        return DriveResult.From(lists.SelectMany(l => l).ToList(), errors, seconds, firstError);
    }

    private static async Task<DriveResult> OpenLoopAsync(HttpClient client, DriveOptions options)
    {
        var total = (long)(options.Rate * options.Duration.TotalSeconds);
        var latencies = new long[total];
        var ok = new bool[total];
        long errors = 0;
        string? firstError = null;
        var pending = new List<Task>((int)Math.Min(total, 1_000_000));
        var start = Stopwatch.GetTimestamp();
        var interval = Stopwatch.Frequency / options.Rate;
        long next = 0;
        while (next < total)
        {
            var now = Stopwatch.GetTimestamp();
            // Send everything that is due by now; each request's clock starts when it was due.
            while (next < total && start + (long)(next * interval) <= now)
            {
                var index = next++;
                var due = start + (long)(index * interval);
                pending.Add(Task.Run(async () =>
                {
                    var error = await SendAsync(client, options.Url, options.NewConnections, options.PostJson);
                    latencies[index] = Stopwatch.GetTimestamp() - due;
                    ok[index] = error is null;
                    if (error is not null)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, error, null);
                    }
                }));
            }
            // Sleep until the next request is due, never spin: on a 2-core machine a spinning sender takes most of a
            // core from the processes it measures (at 2000 req/s the driver used 1.3 cores). Thread.Sleep (nanosleep)
            // wakes within about 1.1 ms; Task.Delay's timer was seen 5 ms late. A request sent late is still timed
            // from when it was due, on every path alike.
            if (next < total && start + (long)(next * interval) > Stopwatch.GetTimestamp())
            {
                Thread.Sleep(1);
            }
        }
        await Task.WhenAll(pending);
        var seconds = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
        var good = new List<long>((int)total);
        for (var i = 0; i < total; i++)
        {
            if (ok[i])
            {
                good.Add(latencies[i]);
            }
        }
        return DriveResult.From(good, errors, seconds, firstError);
    }

    private static async Task<string?> SendAsync(HttpClient client, Uri url, bool closeConnection, string? postJson)
    {
        try
        {
            using var request = new HttpRequestMessage(postJson is null ? HttpMethod.Get : HttpMethod.Post, url);
            if (postJson is not null)
            {
                request.Content = new StringContent(postJson, System.Text.Encoding.UTF8, "application/json");
                request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            }
            if (closeConnection)
            {
                request.Headers.ConnectionClose = true;
            }
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            return response.IsSuccessStatusCode ? null : $"HTTP {(int)response.StatusCode}: {Cut(await response.Content.ReadAsStringAsync())}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException or SocketException)
        {
            return ex.GetType().Name + ": " + Cut(ex.Message);
        }
    }

    private static string Cut(string text) => text.Length <= 200 ? text : text[..200];

    private static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static string ToJson(DriveResult result) => JsonSerializer.Serialize(result, Json);

    public static DriveResult FromJson(string json) => JsonSerializer.Deserialize<DriveResult>(json, Json)!;
}
