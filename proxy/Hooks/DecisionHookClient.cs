using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace SecretlessProxy.Hooks;

/// <summary>
/// Asks the external decision hook, in OPA's data API shape: <c>POST /v1/data/&lt;path&gt;</c> with
/// <c>{"input": {identity, attestation, route, method, path, listener, sourceAddress, facts}}</c>, reading
/// <c>result.allow</c> and <c>result.reason</c> (a bare boolean <c>result</c> is accepted too). Answers are cached per
/// input for <see cref="DecisionHookSettings.CacheTtl"/>; a failure (timeout, refused connection, non-2xx, no decision
/// in the answer) is never cached and is reported as <see cref="HookVerdict.Failed"/>, which the caller turns into a
/// refusal unless the hook is configured to fail open.
/// </summary>
public sealed partial class DecisionHookClient(TimeProvider time, ILogger<DecisionHookClient> logger) : IDisposable
{
    /// <summary>The longest hook reason kept (a longer one is cut): it goes into 403 bodies and records.</summary>
    public const int MaxReasonLength = 200;

    private const int MaxAnswerBytes = 64 * 1024;

    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, (HookVerdict Verdict, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);
    private DecisionHookSettings? _settings;
    private HttpClient? _http;

    public DecisionHookSettings? Settings => _settings;

    /// <summary>Applies a config's <c>decisionHook</c> (null: none). A changed hook starts with an empty cache.</summary>
    public void Configure(DecisionHookSettings? settings)
    {
        lock (_gate)
        {
            if (Equals(settings, _settings))
            {
                return;
            }
            _http?.Dispose();
            _http = settings is null ? null : new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = settings.Timeout })
            {
                Timeout = Timeout.InfiniteTimeSpan,
            };
            _cache.Clear();
            _settings = settings;
        }
    }

    public async ValueTask<HookVerdict> AskAsync(DecisionHookSettings settings, HookInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var body = Body(input);
        var key = Convert.ToHexString(SHA256.HashData(body));
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && cached.Until > now)
        {
            return cached.Verdict with { Cached = true };
        }
        var http = _http;
        if (http is null || !Equals(settings, _settings))
        {
            return new HookVerdict(false, "the decision hook is being reconfigured", Failed: true, Cached: false);
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.Timeout);
        HookVerdict verdict;
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await http.PostAsync(settings.Endpoint, content, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                Log.Failed(logger, settings.Endpoint.GetLeftPart(UriPartial.Path), "HTTP " + (int)response.StatusCode);
                return new HookVerdict(false, $"the decision hook answered HTTP {(int)response.StatusCode}", Failed: true, Cached: false);
            }
            var answer = await ReadBoundedAsync(response, timeout.Token);
            verdict = answer is null ? new HookVerdict(false, "the decision hook's answer is larger than 64 KiB", true, false) : Read(answer);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Log.Failed(logger, settings.Endpoint.GetLeftPart(UriPartial.Path), "timeout");
            return new HookVerdict(false, $"the decision hook did not answer within {settings.Timeout.TotalMilliseconds:0} ms", Failed: true, Cached: false);
        }
        catch (HttpRequestException ex)
        {
            Log.Failed(logger, settings.Endpoint.GetLeftPart(UriPartial.Path), ex.HttpRequestError.ToString());
            return new HookVerdict(false, "the decision hook could not be reached", Failed: true, Cached: false);
        }
        if (verdict.Failed)
        {
            Log.Failed(logger, settings.Endpoint.GetLeftPart(UriPartial.Path), verdict.Reason!);
            return verdict;
        }
        if (settings.CacheTtl > TimeSpan.Zero)
        {
            if (_cache.Count >= DecisionHookSettings.MaxCachedDecisions)
            {
                _cache.Clear();
            }
            _cache[key] = (verdict, now + settings.CacheTtl);
        }
        return verdict;
    }

    /// <summary>OPA's input document for a call.</summary>
    public static byte[] Body(HookInput input)
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("input");
            json.WriteString("identity", input.Caller.SpiffeId.Value);
            json.WriteStartObject("attestation");
            json.WriteString("kind", Identity.AttestationKinds.Name(input.Caller.Kind));
            json.WriteStartObject("facts");
            foreach (var (name, value) in input.Caller.Facts.OrderBy(f => f.Key, StringComparer.Ordinal))
            {
                json.WriteString(name, value);
            }
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteString("route", input.Route);
            json.WriteString("method", input.Method);
            json.WriteString("path", input.Path);
            WriteOrNull(json, "listener", input.Listener);
            WriteOrNull(json, "sourceAddress", input.Source is { } source ? (source.IsIPv4MappedToIPv6 ? source.MapToIPv4() : source).ToString() : null);
            if (input.Facts is { } facts)
            {
                json.WriteStartObject("facts");
                foreach (var (name, value) in facts.Values.OrderBy(f => f.Key, StringComparer.Ordinal))
                {
                    json.WriteString(name, value);
                }
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("facts");
            }
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The verdict in an OPA answer: <c>{"result": {"allow": bool, "reason": "..."}}</c> or <c>{"result": bool}</c>.</summary>
    public static HookVerdict Read(ReadOnlySpan<byte> answer)
    {
        try
        {
            var reader = new Utf8JsonReader(answer, new JsonReaderOptions { MaxDepth = 16 });
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("result", out var result))
            {
                // OPA answers {} when the document at the path is undefined: no rule decided.
                return new HookVerdict(false, "the decision hook's answer has no result (is the policy at that path loaded?)", Failed: true, Cached: false);
            }
            if (result.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return new HookVerdict(result.ValueKind == JsonValueKind.True, null, false, false);
            }
            if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty("allow", out var allow) || allow.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return new HookVerdict(false, "the decision hook's result has no boolean 'allow'", Failed: true, Cached: false);
            }
            string? reason = null;
            if (result.TryGetProperty("reason", out var text) && text.ValueKind == JsonValueKind.String)
            {
                reason = Clean(text.GetString()!);
            }
            return new HookVerdict(allow.ValueKind == JsonValueKind.True, reason, false, false);
        }
        catch (JsonException)
        {
            return new HookVerdict(false, "the decision hook's answer is not JSON", Failed: true, Cached: false);
        }
    }

    /// <summary>The reason as it may appear in a 403 body and a record: one line of printable text, at most <see cref="MaxReasonLength"/> characters.</summary>
    private static string Clean(string reason)
    {
        var text = new StringBuilder(Math.Min(reason.Length, MaxReasonLength));
        foreach (var c in reason)
        {
            if (text.Length == MaxReasonLength)
            {
                break;
            }
            text.Append(char.IsControl(c) ? ' ' : c);
        }
        return text.ToString();
    }

    private static async Task<byte[]?> ReadBoundedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MaxAnswerBytes)
        {
            return null;
        }
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxAnswerBytes)
            {
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static void WriteOrNull(Utf8JsonWriter json, string name, string? value)
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

    public void Dispose()
    {
        lock (_gate)
        {
            _http?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6101, Level = LogLevel.Warning, Message = "Decision hook {Endpoint} failed: {Problem}")]
        public static partial void Failed(ILogger logger, string endpoint, string problem);
    }
}
