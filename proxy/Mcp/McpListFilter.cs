using System.Text.Json;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Audit;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Mcp;

/// <summary>
/// The response body of a POST that holds list requests (<c>tools/list</c>, <c>resources/list</c>,
/// <c>resources/templates/list</c>, <c>prompts/list</c>): the answers to them keep only the entries the caller may use.
/// A JSON answer is held (at most <c>maxBytes</c>) and rewritten with its true length; in an event stream each event is
/// held until its blank line, the event that answers a list request is rewritten, every other event is written as it
/// came (flushes pass), and once every list request is answered the rest streams through untouched. An answer that
/// cannot be read (not JSON, compressed, too long) is replaced by a JSON-RPC error: it fails closed.
/// </summary>
internal sealed class McpListFilter(Stream inner, HttpResponse response, Dictionary<string, string> pending, int maxBytes, Func<string, string, bool> visible, McpExchange exchange, string requestId) : Stream
{
    private enum Mode
    {
        Undecided,
        Json,
        Sse,
        Pass,
        Failed,
    }

    private Mode _mode;
    private MemoryStream? _held;
    private bool _skipEvent;

    /// <summary>True when an answer could not be filtered and was replaced by an error.</summary>
    public bool Failed { get; private set; }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => FlushAsync(default).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) =>
        _mode is Mode.Sse or Mode.Pass ? inner.FlushAsync(cancellationToken) : Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (_mode == Mode.Undecided)
        {
            _mode = Choose();
        }
        switch (_mode)
        {
            case Mode.Pass:
                await inner.WriteAsync(data, cancellationToken);
                break;
            case Mode.Json:
                if (_held!.Length + data.Length > maxBytes)
                {
                    _mode = Mode.Failed;
                    _held = null;
                    break;
                }
                _held.Write(data.Span);
                break;
            case Mode.Sse:
                await SseAsync(data, cancellationToken);
                break;
            default:
                break;
        }
    }

    private Mode Choose()
    {
        if (response.StatusCode != StatusCodes.Status200OK)
        {
            return Mode.Pass;
        }
        var type = response.ContentType ?? "";
        var semicolon = type.IndexOf(';', StringComparison.Ordinal);
        var media = (semicolon < 0 ? type : type[..semicolon]).Trim();
        var encoded = response.Headers.ContentEncoding is { Count: > 0 } encoding && !string.Equals(encoding.ToString(), "identity", StringComparison.OrdinalIgnoreCase);
        if (string.Equals(media, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            _held = new MemoryStream();
            return encoded ? Mode.Failed : Mode.Json;
        }
        if (string.Equals(media, "text/event-stream", StringComparison.OrdinalIgnoreCase))
        {
            if (encoded)
            {
                return Mode.Failed;
            }
            response.ContentLength = null;
            _held = new MemoryStream();
            return Mode.Sse;
        }
        // Neither JSON nor an event stream: not an answer the client can read as JSON-RPC either.
        return Mode.Failed;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _held?.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>Writes what is held: the rewritten JSON answer, or the error that replaces an unreadable one.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        switch (_mode)
        {
            case Mode.Json:
                var rewritten = Rewrite(_held!.GetBuffer().AsSpan(0, (int)_held.Length), out var readable);
                if (!readable)
                {
                    await FailAsync(cancellationToken);
                    return;
                }
                response.ContentLength = rewritten.Length;
                await inner.WriteAsync(rewritten, cancellationToken);
                break;
            case Mode.Sse:
                if (_held!.Length > 0 && !_skipEvent)
                {
                    await EventAsync(_held.ToArray(), cancellationToken);
                }
                break;
            case Mode.Failed:
                await FailAsync(cancellationToken);
                break;
            default:
                break;
        }
    }

    private async Task FailAsync(CancellationToken cancellationToken)
    {
        Failed = true;
        var body = ErrorsForPending();
        if (response.HasStarted)
        {
            return;
        }
        response.Headers.ContentEncoding = default;
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        await inner.WriteAsync(body, cancellationToken);
    }

    private byte[] ErrorsForPending()
    {
        var errors = new List<JsonRpcAnswers.Error>();
        foreach (var key in pending.Keys)
        {
            var idJson = new System.Buffers.ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(idJson))
            {
                if (key[0] == 's')
                {
                    writer.WriteStringValue(key.AsSpan(2));
                }
                else
                {
                    writer.WriteRawValue(key.AsSpan(2));
                }
            }
            using var id = JsonDocument.Parse(idJson.WrittenMemory);
            errors.Add(new JsonRpcAnswers.Error(id.RootElement.Clone(), JsonRpcAnswers.AnswerUnfiltered, RefusalCatalog.McpAnswerUnfiltered,
                $"the upstream's answer to {pending[key]} could not be read to filter it (not JSON, compressed, or longer than {maxBytes} bytes: McpMaxListBytes)", null));
        }
        pending.Clear();
        return JsonRpcAnswers.Body(errors, errors.Count > 1, requestId);
    }

    private async ValueTask SseAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var span = data;
        while (span.Length > 0)
        {
            // An event ends at a blank line: "\n\n" (or "\r\n\r\n").
            var end = EventEnd(_held!, span.Span, out var consumed);
            if (end < 0)
            {
                if (!_skipEvent)
                {
                    if (_held!.Length + span.Length > maxBytes)
                    {
                        // Too long to read: answer the list requests with errors, drop this event, pass the rest.
                        Failed = true;
                        var errors = ErrorsForPending();
                        await inner.WriteAsync(Event(errors), cancellationToken);
                        _skipEvent = true;
                        _held.SetLength(0);
                    }
                    else
                    {
                        _held.Write(span.Span);
                    }
                }
                return;
            }
            if (_skipEvent)
            {
                _skipEvent = false;
                _held!.SetLength(0);
                span = span[consumed..];
                _mode = pending.Count == 0 ? Mode.Pass : Mode.Sse;
                if (_mode == Mode.Pass)
                {
                    await inner.WriteAsync(span, cancellationToken);
                    return;
                }
                continue;
            }
            _held!.Write(span.Span[..consumed]);
            var whole = _held.ToArray();
            _held.SetLength(0);
            span = span[consumed..];
            await EventAsync(whole, cancellationToken);
            if (pending.Count == 0)
            {
                _mode = Mode.Pass;
                if (span.Length > 0)
                {
                    await inner.WriteAsync(span, cancellationToken);
                }
                return;
            }
        }
    }

    /// <summary>The index just after the blank line ending the held event plus <paramref name="next"/>, as a count of bytes of <paramref name="next"/>; -1 when none yet.</summary>
    private static int EventEnd(MemoryStream held, ReadOnlySpan<byte> next, out int consumed)
    {
        consumed = 0;
        // The last byte held may be the first newline of the blank line.
        var previous = held.Length > 0 ? held.GetBuffer()[held.Length - 1] : (byte)0;
        var beforePrevious = held.Length > 1 ? held.GetBuffer()[held.Length - 2] : (byte)0;
        for (var i = 0; i < next.Length; i++)
        {
            var c = next[i];
            if (c == '\n' && (previous == '\n' || (previous == '\r' && beforePrevious == '\n')))
            {
                consumed = i + 1;
                return consumed;
            }
            beforePrevious = previous;
            previous = c;
        }
        return -1;
    }

    private async Task EventAsync(byte[] whole, CancellationToken cancellationToken)
    {
        var text = System.Text.Encoding.UTF8.GetString(whole);
        var lines = text.Split('\n');
        var data = new List<string>();
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                data.Add(line.Length > 5 && line[5] == ' ' ? line[6..] : line[5..]);
            }
        }
        if (data.Count == 0)
        {
            await inner.WriteAsync(whole, cancellationToken);
            await inner.FlushAsync(cancellationToken);
            return;
        }
        var json = System.Text.Encoding.UTF8.GetBytes(string.Join('\n', data));
        var rewritten = Rewrite(json, out var readable, onlyWhenAnswering: true);
        if (!readable || rewritten.Length == 0)
        {
            // Not an answer to a list request (a notification, a server request, another response): as it came.
            await inner.WriteAsync(whole, cancellationToken);
            await inner.FlushAsync(cancellationToken);
            return;
        }
        var output = new System.Text.StringBuilder();
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd('\r');
            if (line.Length > 0 && !line.StartsWith("data:", StringComparison.Ordinal))
            {
                output.Append(line).Append('\n');
            }
        }
        output.Append("data: ").Append(System.Text.Encoding.UTF8.GetString(rewritten)).Append("\n\n");
        await inner.WriteAsync(System.Text.Encoding.UTF8.GetBytes(output.ToString()), cancellationToken);
        await inner.FlushAsync(cancellationToken);
    }

    private static byte[] Event(byte[] json) =>
        [.. "event: message\ndata: "u8, .. json, .. "\n\n"u8];

    /// <summary>
    /// The answer with every list result filtered. <paramref name="readable"/> is false when it is not JSON. With
    /// <paramref name="onlyWhenAnswering"/>, an answer to none of the pending list requests gives an empty array (write the original).
    /// </summary>
    private byte[] Rewrite(ReadOnlySpan<byte> answer, out bool readable, bool onlyWhenAnswering = false)
    {
        readable = false;
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(answer, new JsonReaderOptions { MaxDepth = 256 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            return [];
        }
        using (document)
        {
            readable = true;
            var root = document.RootElement;
            if (onlyWhenAnswering && !AnswersPending(root))
            {
                return [];
            }
            var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer, JsonAnswersOptions))
            {
                if (root.ValueKind == JsonValueKind.Array)
                {
                    json.WriteStartArray();
                    foreach (var item in root.EnumerateArray())
                    {
                        WriteResponse(json, item);
                    }
                    json.WriteEndArray();
                }
                else
                {
                    WriteResponse(json, root);
                }
            }
            return buffer.ToArray();
        }
    }

    private static readonly JsonWriterOptions JsonAnswersOptions = JsonRpcAnswers.Options;

    private bool AnswersPending(JsonElement root)
    {
        if (root.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in root.EnumerateArray())
            {
                if (PendingMethod(item) is not null)
                {
                    return true;
                }
            }
            return false;
        }
        return PendingMethod(root) is not null;
    }

    private string? PendingMethod(JsonElement response)
    {
        if (response.ValueKind != JsonValueKind.Object || !response.TryGetProperty("id", out var id) || response.TryGetProperty("method", out _))
        {
            return null;
        }
        var key = id.ValueKind switch
        {
            JsonValueKind.String => "s:" + id.GetString(),
            JsonValueKind.Number => "n:" + id.GetRawText(),
            _ => null,
        };
        return key is not null && pending.TryGetValue(key, out var method) ? method : null;
    }

    private void WriteResponse(Utf8JsonWriter json, JsonElement response)
    {
        var method = PendingMethod(response);
        if (method is null || !response.TryGetProperty("result", out var result) || result.ValueKind != JsonValueKind.Object)
        {
            if (method is not null)
            {
                Forget(response);
            }
            response.WriteTo(json);
            return;
        }
        Forget(response);
        var (listKey, nameKey, itemMethod) = method switch
        {
            McpCall.ToolsList => ("tools", "name", McpCall.ToolsCall),
            McpCall.PromptsList => ("prompts", "name", McpCall.PromptsGet),
            McpCall.ResourceTemplatesList => ("resourceTemplates", "uriTemplate", McpCall.ResourcesRead),
            _ => ("resources", "uri", McpCall.ResourcesRead),
        };
        json.WriteStartObject();
        foreach (var property in response.EnumerateObject())
        {
            if (!property.NameEquals("result"))
            {
                property.WriteTo(json);
                continue;
            }
            json.WriteStartObject("result");
            foreach (var part in result.EnumerateObject())
            {
                if (!part.NameEquals(listKey) || part.Value.ValueKind != JsonValueKind.Array)
                {
                    part.WriteTo(json);
                    continue;
                }
                json.WriteStartArray(listKey);
                foreach (var entry in part.Value.EnumerateArray())
                {
                    if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty(nameKey, out var name) && name.ValueKind == JsonValueKind.String
                        && visible(itemMethod, name.GetString()!))
                    {
                        entry.WriteTo(json);
                    }
                    else
                    {
                        exchange.Hidden++;
                    }
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }

    private void Forget(JsonElement response)
    {
        var id = response.GetProperty("id");
        pending.Remove(id.ValueKind == JsonValueKind.String ? "s:" + id.GetString() : "n:" + id.GetRawText());
    }
}
