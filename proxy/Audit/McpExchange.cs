namespace SecretlessProxy.Audit;

/// <summary>
/// What the decision record says about an MCP POST: the message that decided (the first refused one, else the first
/// request), which tool, prompt or resource it named, its argument keys and their sizes in bytes (the values only on
/// routes with <c>McpAuditArgumentValues</c>), how many messages the body held and how many list entries the answer hid.
/// </summary>
public sealed class McpExchange
{
    public string? Method { get; set; }

    /// <summary><c>tool</c>, <c>prompt</c> or <c>resource</c> for the methods that name one; else null.</summary>
    public string? NameKind { get; set; }

    public string? Name { get; set; }

    /// <summary>Top-level argument keys and the length of each value's JSON text.</summary>
    public IReadOnlyList<KeyValuePair<string, int>>? Arguments { get; set; }

    /// <summary>The arguments object's JSON text, only where the route opts in.</summary>
    public string? ArgumentValues { get; set; }

    public int Messages { get; set; }

    /// <summary>The JSON-RPC error code the caller got, when the proxy answered in place of the upstream.</summary>
    public int? ErrorCode { get; set; }

    /// <summary>Tools, resources or prompts removed from list answers.</summary>
    public int Hidden { get; set; }

    /// <summary>The user the agent acts for (the validated token's subject), or null.</summary>
    public string? User { get; set; }

    internal void WriteTo(System.Text.Json.Utf8JsonWriter json)
    {
        json.WriteStartObject("mcp");
        DecisionRecord.WriteOrNull(json, "method", Method);
        if (NameKind is not null)
        {
            json.WriteString(NameKind, Name);
        }
        if (Arguments is { } arguments)
        {
            json.WriteStartObject("argumentBytes");
            foreach (var (key, bytes) in arguments)
            {
                json.WriteNumber(key, bytes);
            }
            json.WriteEndObject();
        }
        if (ArgumentValues is { } values)
        {
            json.WritePropertyName("arguments");
            json.WriteRawValue(values, skipInputValidation: false);
        }
        json.WriteNumber("messages", Messages);
        if (ErrorCode is { } code)
        {
            json.WriteNumber("errorCode", code);
        }
        if (Hidden > 0)
        {
            json.WriteNumber("hidden", Hidden);
        }
        if (User is not null)
        {
            json.WriteString("user", User);
        }
        json.WriteEndObject();
    }
}
