using System.Net.Http.Headers;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Timeout;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Approvals;

/// <summary>
/// Announces grant requests and their decisions to <c>approvals.webhook</c>: one JSON POST each, in order, with a
/// Slack-compatible <c>text</c> and the request's fields (names, route, duration, reason, who decided; never a token,
/// an ID token or a secret). Retries with exponential backoff and jitter on network errors, timeouts, 408, 429 and
/// 5xx (Polly); a message that still fails is logged and dropped, so a dead webhook never holds up approvals. The URL
/// (a Slack URL is itself a secret) is read from its file or variable for each message and never logged beyond its host.
/// </summary>
public sealed partial class ApprovalWebhook : IDisposable
{
    private const int QueueCapacity = 1000;

    private readonly TimeProvider _time;
    private readonly ILogger<ApprovalWebhook> _logger;
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = Timeout.InfiniteTimeSpan };
    private readonly Channel<(WebhookSettings Settings, byte[] Body, string Event)> _queue =
        Channel.CreateBounded<(WebhookSettings, byte[], string)>(new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _sender;
    private (WebhookSettings Settings, ResiliencePipeline<HttpResponseMessage> Pipeline)? _pipeline;

    public ApprovalWebhook(TimeProvider time, ILogger<ApprovalWebhook> logger)
    {
        _time = time;
        _logger = logger;
        _sender = Task.Run(SendAllAsync);
    }

    /// <summary>Messages delivered (a 2xx answer), for tests and metrics.</summary>
    public int Delivered => _delivered;

    private int _delivered;

    /// <summary>Queues the announcement of <paramref name="request"/> (nothing when no webhook is configured).</summary>
    public void Announce(WebhookSettings? settings, string kind, ApprovalRequest request, string text)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (settings is null)
        {
            return;
        }
        _queue.Writer.TryWrite((settings, Body(kind, request, text), kind));
    }

    /// <summary>The message: <c>text</c> (Slack), <c>event</c>, and the request's fields.</summary>
    internal static byte[] Body(string kind, ApprovalRequest request, string text)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("text", text);
            json.WriteString("event", kind);
            json.WriteStartObject("request");
            json.WriteString("id", request.Id);
            json.WriteString("status", request.StatusName);
            json.WriteString("identity", request.Requester);
            json.WriteString("attestation", request.Attestation);
            Nullable(json, "route", request.Route);
            Nullable(json, "credential", request.Credential);
            json.WriteString("duration", request.Duration.ToString("c", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("reason", request.Reason);
            json.WriteStartArray("rules");
            foreach (var rule in request.Rules)
            {
                json.WriteStringValue(rule);
            }
            json.WriteEndArray();
            json.WriteString("createdAt", request.CreatedAt);
            json.WriteString("expiresAt", request.ExpiresAt);
            Nullable(json, "decidedBy", request.DecidedBy);
            Nullable(json, "decidedByKind", request.DecidedByKind);
            if (request.DecidedAt is { } decidedAt)
            {
                json.WriteString("decidedAt", decidedAt);
            }
            Nullable(json, "decisionReason", request.DecisionReason);
            Nullable(json, "grant", request.GrantId);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void Nullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private async Task SendAllAsync()
    {
        try
        {
            await foreach (var (settings, body, kind) in _queue.Reader.ReadAllAsync(_stopping.Token))
            {
                await SendAsync(settings, body, kind);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync(WebhookSettings settings, byte[] body, string kind)
    {
        if (Url(settings) is not { } url)
        {
            return;
        }
        var where = url.GetLeftPart(UriPartial.Authority);
        var attempts = 0;
        try
        {
            using var response = await Pipeline(settings).ExecuteAsync(async token =>
            {
                attempts++;
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                return await _http.PostAsync(url, content, token);
            }, _stopping.Token);
            if (response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _delivered);
                Log.Delivered(_logger, kind, where, attempts);
            }
            else
            {
                Log.Failed(_logger, kind, where, attempts, "HTTP " + (int)response.StatusCode);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException or OperationCanceledException)
        {
            Log.Failed(_logger, kind, where, attempts, ex.GetType().Name);
        }
    }

    private ResiliencePipeline<HttpResponseMessage> Pipeline(WebhookSettings settings)
    {
        if (_pipeline is { } built && Equals(built.Settings, settings))
        {
            return built.Pipeline;
        }
        // No circuit breaker: each message is tried on its own, and one that still fails is dropped.
        var pipeline = IssuerResilience.Build(
            new PredicateBuilder<HttpResponseMessage>().Handle<HttpRequestException>().Handle<TimeoutRejectedException>()
                .HandleResult(r => (int)r.StatusCode >= 500 || r.StatusCode is System.Net.HttpStatusCode.RequestTimeout or System.Net.HttpStatusCode.TooManyRequests),
            settings.Timeout, _time, discardRetried: r => r.Dispose(), breaker: false, retries: settings.Retries);
        _pipeline = (settings, pipeline);
        return pipeline;
    }

    /// <summary>The URL: as configured, or read from its file or variable now (so a rotated Slack URL is used at once).</summary>
    private Uri? Url(WebhookSettings settings)
    {
        if (settings.Url is { } url)
        {
            return url;
        }
        string? text;
        try
        {
            text = settings.AddressFile is { } file ? File.ReadAllText(file).Trim() : Environment.GetEnvironmentVariable(settings.AddressVariable!)?.Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.NoUrl(_logger, $"the file could not be read ({ex.GetType().Name})");
            return null;
        }
        if (!Uri.TryCreate(text, UriKind.Absolute, out var read) || read.Scheme is not ("http" or "https"))
        {
            Log.NoUrl(_logger, settings.AddressFile is not null ? "the file does not hold an http(s) URL" : "the variable is not set to an http(s) URL");
            return null;
        }
        return read;
    }

    private int _disposed;

    /// <summary>Stops the sender (idempotent: the host and its container both dispose it).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping.Cancel();
        _queue.Writer.TryComplete();
        try
        {
            _sender.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException)
        {
        }
        _http.Dispose();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4110, Level = LogLevel.Debug, Message = "Approvals webhook: {Kind} delivered to {Host} (attempt {Attempts})")]
        public static partial void Delivered(ILogger logger, string kind, string host, int attempts);

        [LoggerMessage(EventId = 4111, Level = LogLevel.Warning, Message = "Approvals webhook: {Kind} could not be delivered to {Host} after {Attempts} attempt(s) ({Error}); dropped")]
        public static partial void Failed(ILogger logger, string kind, string host, int attempts, string error);

        [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "Approvals webhook: no URL ({Problem}); the announcement is dropped")]
        public static partial void NoUrl(ILogger logger, string problem);
    }
}
