using System.Text.Encodings.Web;
using System.Text.Json;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Mcp;

/// <summary>
/// JSON-RPC error responses the proxy writes in place of the MCP server's: <c>code</c> (JSON-RPC's own for messages
/// that are not JSON-RPC, <see cref="PolicyRefused"/> for what the policy refused), a <c>message</c> naming the rule,
/// and <c>data</c> with the catalog's reason and title, the rule and the request id, as the problem+json fields are.
/// </summary>
public static class JsonRpcAnswers
{
    /// <summary>The error code of a message the policy refused (JSON-RPC's range for server errors).</summary>
    public const int PolicyRefused = -32001;

    /// <summary>The error code of a list request whose answer could not be filtered.</summary>
    public const int AnswerUnfiltered = -32002;

    internal static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public readonly record struct Error(JsonElement Id, int Code, Refusal Refusal, string Detail, string? Rule);

    /// <summary>One error response (<c>id</c> null when <see cref="Error.Id"/> is Undefined).</summary>
    public static void Write(Utf8JsonWriter json, in Error error, string requestId)
    {
        ArgumentNullException.ThrowIfNull(json);
        json.WriteStartObject();
        json.WriteString("jsonrpc", "2.0");
        json.WritePropertyName("id");
        if (error.Id.ValueKind == JsonValueKind.Undefined)
        {
            json.WriteNullValue();
        }
        else
        {
            error.Id.WriteTo(json);
        }
        json.WriteStartObject("error");
        json.WriteNumber("code", error.Code);
        json.WriteString("message", error.Refusal.Title + ": " + error.Detail);
        json.WriteStartObject("data");
        json.WriteString("reason", error.Refusal.Reason);
        json.WriteString("title", error.Refusal.Title);
        if (error.Rule is not null || error.Refusal.Reason is "denied_by_rule" or "no_rule_matched")
        {
            json.WriteString("rule", error.Rule ?? "no rule matched");
        }
        json.WriteString("requestId", requestId);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>The errors as one response, or as a batch answer (an array).</summary>
    public static byte[] Body(IReadOnlyList<Error> errors, bool asBatch, string requestId)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            if (asBatch)
            {
                json.WriteStartArray();
            }
            foreach (var error in errors)
            {
                Write(json, error, requestId);
                if (!asBatch)
                {
                    break;
                }
            }
            if (asBatch)
            {
                json.WriteEndArray();
            }
        }
        return buffer.ToArray();
    }
}
