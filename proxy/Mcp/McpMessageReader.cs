using System.Text.Json;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Mcp;

/// <summary>What a JSON-RPC message is: a request (method and id), a notification (method, no id) or a response (result or error, and an id).</summary>
public enum JsonRpcKind
{
    Request,
    Notification,
    Response,
}

/// <summary>One JSON-RPC message of a POST body, read and checked; its elements live as long as the <see cref="McpRequestBody"/>.</summary>
public sealed class JsonRpcMessage
{
    internal JsonRpcMessage(JsonRpcKind kind, string? method, JsonElement id, string? idKey, string? name, JsonElement arguments)
    {
        Kind = kind;
        Method = method;
        Id = id;
        IdKey = idKey;
        Name = name;
        Arguments = arguments;
    }

    public JsonRpcKind Kind { get; }

    /// <summary>The method; null for a response.</summary>
    public string? Method { get; }

    /// <summary>The id as sent (Undefined for a notification).</summary>
    public JsonElement Id { get; }

    /// <summary>The id as a comparable key (<c>s:</c> + the string, <c>n:</c> + the number's text); null for a notification.</summary>
    public string? IdKey { get; }

    /// <summary>What the method acts on: the tool or prompt name, the resource URI; null for other methods.</summary>
    public string? Name { get; }

    /// <summary><c>params.arguments</c> of <c>tools/call</c> and <c>prompts/get</c> (an object), else Undefined.</summary>
    public JsonElement Arguments { get; }

    /// <summary>The message as the policy sees it (null for a response).</summary>
    public McpCall? Call { get; internal set; }
}

/// <summary>A POST body read as JSON-RPC: one message or a batch. Disposing it returns the parsed document's memory.</summary>
public sealed class McpRequestBody(JsonDocument document, IReadOnlyList<JsonRpcMessage> messages, bool isBatch) : IDisposable
{
    public IReadOnlyList<JsonRpcMessage> Messages { get; } = messages;

    public bool IsBatch { get; } = isBatch;

    public void Dispose() => document.Dispose();
}

/// <summary>Why a body is not JSON-RPC the proxy will decide on: the JSON-RPC error code and a message naming the problem (never a value from the body).</summary>
public readonly record struct McpReadError(int Code, string Message);

/// <summary>
/// Reads a Streamable HTTP POST body as JSON-RPC 2.0, within bounds: the nesting depth (<c>JsonDocumentOptions.MaxDepth</c>)
/// and the batch size; the caller bounds the length before. What two parsers could read differently is refused, not
/// guessed: a repeated key anywhere (<c>AllowDuplicateProperties = false</c>), a key that differs from one the proxy
/// decides on only by case (<c>"Name"</c> beside or instead of <c>"name"</c>), a repeated id in a batch, comments and
/// trailing commas. Methods the policy decides on by name must carry it: <c>tools/call</c> and <c>prompts/get</c> a string
/// <c>params.name</c> (and <c>arguments</c>, when present, an object), <c>resources/read</c> a string <c>params.uri</c>.
/// </summary>
public static class McpMessageReader
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;
    public const int InvalidParams = -32602;

    private static readonly string[] MessageKeys = ["jsonrpc", "id", "method", "params", "result", "error"];
    private static readonly string[] ParamsKeys = ["name", "arguments", "uri"];

    public static McpRequestBody? Read(ReadOnlyMemory<byte> body, int maxDepth, int maxBatch, out McpReadError error)
    {
        error = default;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = maxDepth, AllowDuplicateProperties = false, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException ex)
        {
            error = new McpReadError(ParseError, Describe(ex, maxDepth));
            return null;
        }
        var root = document.RootElement;
        var messages = new List<JsonRpcMessage>(1);
        var isBatch = root.ValueKind == JsonValueKind.Array;
        if (isBatch)
        {
            var count = root.GetArrayLength();
            if (count == 0 || count > maxBatch)
            {
                document.Dispose();
                error = new McpReadError(InvalidRequest, count == 0 ? "an empty batch" : $"a batch of {count} messages (at most {maxBatch} on this route)");
                return null;
            }
            HashSet<string>? ids = null;
            foreach (var item in root.EnumerateArray())
            {
                if (ReadOne(item, out error) is not { } message)
                {
                    document.Dispose();
                    return null;
                }
                if (message.IdKey is { } key && !(ids ??= new HashSet<string>(StringComparer.Ordinal)).Add(key))
                {
                    document.Dispose();
                    error = new McpReadError(InvalidRequest, "two messages of the batch have the same id");
                    return null;
                }
                messages.Add(message);
            }
        }
        else if (ReadOne(root, out error) is { } message)
        {
            messages.Add(message);
        }
        else
        {
            document.Dispose();
            return null;
        }
        return new McpRequestBody(document, messages, isBatch);
    }

    private static string Describe(JsonException ex, int maxDepth) =>
        ex.Message.Contains("depth", StringComparison.OrdinalIgnoreCase) ? $"the JSON nests deeper than {maxDepth} levels"
        : ex.Message.Contains("duplicate", StringComparison.OrdinalIgnoreCase) ? "the JSON repeats a property name in one object"
        : "the body is not valid JSON" + (ex.LineNumber is { } line ? $" (line {line + 1}, byte {ex.BytePositionInLine + 1})" : "");

    private static JsonRpcMessage? ReadOne(JsonElement item, out McpReadError error)
    {
        error = default;
        if (item.ValueKind != JsonValueKind.Object)
        {
            error = new McpReadError(InvalidRequest, "a JSON-RPC message must be an object");
            return null;
        }
        if (CaseVariant(item, MessageKeys) is { } variant)
        {
            error = new McpReadError(InvalidRequest, $"the message has a key '{variant}' that differs from a JSON-RPC key only by case");
            return null;
        }
        if (!item.TryGetProperty("jsonrpc", out var version) || version.ValueKind != JsonValueKind.String || !version.ValueEquals("2.0"u8))
        {
            error = new McpReadError(InvalidRequest, "the message lacks \"jsonrpc\": \"2.0\"");
            return null;
        }
        var hasId = item.TryGetProperty("id", out var id);
        string? idKey = null;
        if (hasId)
        {
            idKey = id.ValueKind switch
            {
                JsonValueKind.String => "s:" + id.GetString(),
                JsonValueKind.Number => "n:" + id.GetRawText(),
                _ => null,
            };
            if (idKey is null)
            {
                error = new McpReadError(InvalidRequest, "the id must be a string or a number");
                return null;
            }
        }
        if (!item.TryGetProperty("method", out var methodElement))
        {
            if (!hasId || !(item.TryGetProperty("result", out _) ^ item.TryGetProperty("error", out _)))
            {
                error = new McpReadError(InvalidRequest, "a message without a method must be a response: an id and either result or error");
                return null;
            }
            return new JsonRpcMessage(JsonRpcKind.Response, null, id, idKey, null, default);
        }
        if (methodElement.ValueKind != JsonValueKind.String || methodElement.GetString() is not { Length: > 0 and <= 128 } method)
        {
            error = new McpReadError(InvalidRequest, "the method must be a string of 1 to 128 characters");
            return null;
        }
        if (item.TryGetProperty("result", out _) || item.TryGetProperty("error", out _))
        {
            error = new McpReadError(InvalidRequest, "a request or notification has no result or error");
            return null;
        }
        var hasParams = item.TryGetProperty("params", out var parameters);
        if (hasParams && parameters.ValueKind != JsonValueKind.Object)
        {
            error = new McpReadError(InvalidRequest, "params must be an object");
            return null;
        }
        var kind = hasId ? JsonRpcKind.Request : JsonRpcKind.Notification;
        string? name = null;
        JsonElement arguments = default;
        switch (method)
        {
            case McpCall.ToolsCall:
            case McpCall.PromptsGet:
                if (!hasParams || !TryString(parameters, "name", out name, out error))
                {
                    error = error.Message is null ? new McpReadError(InvalidParams, $"{method} needs params.name, a string") : error;
                    return null;
                }
                if (parameters.TryGetProperty("arguments", out arguments) && arguments.ValueKind != JsonValueKind.Object)
                {
                    error = new McpReadError(InvalidParams, $"params.arguments of {method} must be an object");
                    return null;
                }
                break;
            case McpCall.ResourcesRead:
                if (!hasParams || !TryString(parameters, "uri", out name, out error))
                {
                    error = error.Message is null ? new McpReadError(InvalidParams, "resources/read needs params.uri, a string") : error;
                    return null;
                }
                break;
        }
        var message = new JsonRpcMessage(kind, method, hasId ? id : default, idKey, name, arguments);
        message.Call = new McpCall(method, name, arguments);
        return message;
    }

    private static bool TryString(JsonElement parameters, string key, out string? value, out McpReadError error)
    {
        value = null;
        error = default;
        if (CaseVariant(parameters, ParamsKeys) is { } variant)
        {
            error = new McpReadError(InvalidParams, $"params has a key '{variant}' that differs from '{key}' or another decided key only by case");
            return false;
        }
        if (!parameters.TryGetProperty(key, out var element) || element.ValueKind != JsonValueKind.String)
        {
            return false;
        }
        value = element.GetString();
        return value is not null;
    }

    /// <summary>A key of <paramref name="obj"/> that equals one of <paramref name="known"/> ignoring case but not exactly, or null.</summary>
    private static string? CaseVariant(JsonElement obj, string[] known)
    {
        foreach (var property in obj.EnumerateObject())
        {
            foreach (var key in known)
            {
                if (property.Name.Length == key.Length && !property.NameEquals(key) && string.Equals(property.Name, key, StringComparison.OrdinalIgnoreCase))
                {
                    return property.Name.Length <= 32 ? property.Name : key;
                }
            }
        }
        return null;
    }
}
