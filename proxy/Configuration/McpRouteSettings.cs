using System.Globalization;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>
/// An MCP route's settings (<c>Metadata: { Protocol: mcp, ... }</c>): the bounds the proxy reads each JSON-RPC message
/// within, how much of a list answer it buffers to filter it, and whether argument values are audited.
/// </summary>
public sealed class McpRouteSettings
{
    public const string ProtocolMetadataKey = "Protocol";
    public const string Protocol = "mcp";
    public const string MaxMessageBytesKey = "McpMaxMessageBytes";
    public const string MaxDepthKey = "McpMaxDepth";
    public const string MaxBatchKey = "McpMaxBatch";
    public const string MaxListBytesKey = "McpMaxListBytes";
    public const string AuditValuesKey = "McpAuditArgumentValues";

    public static readonly IReadOnlyList<string> Keys = [MaxMessageBytesKey, MaxDepthKey, MaxBatchKey, MaxListBytesKey, AuditValuesKey];

    public const int DefaultMaxMessageBytes = 1024 * 1024;
    public const int DefaultMaxDepth = 32;
    public const int DefaultMaxBatch = 32;
    public const int DefaultMaxListBytes = 4 * 1024 * 1024;

    public static readonly McpRouteSettings Default = new();

    /// <summary>The longest request body (one message or a batch) read, in bytes.</summary>
    public int MaxMessageBytes { get; init; } = DefaultMaxMessageBytes;

    /// <summary>The deepest nesting of objects and arrays in a request.</summary>
    public int MaxDepth { get; init; } = DefaultMaxDepth;

    /// <summary>The most messages in a batch.</summary>
    public int MaxBatch { get; init; } = DefaultMaxBatch;

    /// <summary>The longest list answer (JSON body or one SSE event) buffered to filter it.</summary>
    public int MaxListBytes { get; init; } = DefaultMaxListBytes;

    /// <summary>Write argument values (not only their keys and sizes) to the decision record.</summary>
    public bool AuditArgumentValues { get; init; }

    public static bool IsMcp(RouteConfig route) =>
        route?.Metadata?.GetValueOrDefault(ProtocolMetadataKey) is { } protocol && string.Equals(protocol, Protocol, StringComparison.OrdinalIgnoreCase);

    /// <summary>Checks the route's MCP metadata (every problem reported); the settings, or null when the route is not an MCP route.</summary>
    public static McpRouteSettings? Compile(RouteConfig route, string path, ConfigErrorList errors)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(errors);
        var metadata = route.Metadata;
        if (metadata?.GetValueOrDefault(ProtocolMetadataKey) is { } protocol && !string.Equals(protocol, Protocol, StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(path + ":Metadata:" + ProtocolMetadataKey, $"'{protocol}' is not a protocol the proxy reads", "write Protocol: mcp for a Streamable HTTP MCP server, or leave it out for plain HTTP");
            return null;
        }
        if (!IsMcp(route))
        {
            foreach (var key in Keys)
            {
                if (metadata?.ContainsKey(key) == true)
                {
                    errors.Add(path + ":Metadata:" + key, "applies to MCP routes only", "add Protocol: mcp to the route's Metadata, or remove " + key);
                }
            }
            return null;
        }
        int Number(string key, int fallback, int min)
        {
            if (metadata!.GetValueOrDefault(key) is not { } text)
            {
                return fallback;
            }
            if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min)
            {
                errors.Add(path + ":Metadata:" + key, $"'{text}' is not a whole number of at least {min}", FormattableString.Invariant($"e.g. {key}: \"{fallback}\""));
                return fallback;
            }
            return n;
        }
        var audit = false;
        if (metadata!.GetValueOrDefault(AuditValuesKey) is { } auditText && !bool.TryParse(auditText, out audit))
        {
            errors.Add(path + ":Metadata:" + AuditValuesKey, $"'{auditText}' is not true or false", "write McpAuditArgumentValues: \"true\" to audit argument values (keys and sizes are always audited)");
        }
        return new McpRouteSettings
        {
            MaxMessageBytes = Number(MaxMessageBytesKey, DefaultMaxMessageBytes, 64),
            MaxDepth = Number(MaxDepthKey, DefaultMaxDepth, 4),
            MaxBatch = Number(MaxBatchKey, DefaultMaxBatch, 1),
            MaxListBytes = Number(MaxListBytesKey, DefaultMaxListBytes, 1024),
            AuditArgumentValues = audit,
        };
    }
}
