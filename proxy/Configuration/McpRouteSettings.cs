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
    public const string UserHeaderKey = "McpUserHeader";
    public const string UserIssuerKey = "McpUserIssuer";
    public const string UserJwksKey = "McpUserJwksUrl";
    public const string UserAudienceKey = "McpUserAudience";
    public const string UserRequiredKey = "McpUserRequired";

    public static readonly IReadOnlyList<string> Keys = [MaxMessageBytesKey, MaxDepthKey, MaxBatchKey, MaxListBytesKey, AuditValuesKey, UserHeaderKey, UserIssuerKey, UserJwksKey, UserAudienceKey, UserRequiredKey];

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

    /// <summary>The header carrying the token of the user the agent acts for (never forwarded); null when the route takes none.</summary>
    public string? UserHeader { get; init; }

    /// <summary>The user token's required <c>iss</c>.</summary>
    public string? UserIssuer { get; init; }

    /// <summary>Where the issuer publishes its signing keys (JWKS).</summary>
    public Uri? UserJwks { get; init; }

    /// <summary>An <c>aud</c> the user token must carry; null: not checked.</summary>
    public string? UserAudience { get; init; }

    /// <summary>Refuse POSTs without a user token (true by default when a header is configured).</summary>
    public bool UserRequired { get; init; }

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
        // An MCP route has metadata (its Protocol key).
        ArgumentNullException.ThrowIfNull(metadata);
        IReadOnlyDictionary<string, string> data = metadata;
        int Number(string key, int fallback, int min)
        {
            if (data.GetValueOrDefault(key) is not { } text)
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
        if (metadata.GetValueOrDefault(AuditValuesKey) is { } auditText && !bool.TryParse(auditText, out audit))
        {
            errors.Add(path + ":Metadata:" + AuditValuesKey, $"'{auditText}' is not true or false", "write McpAuditArgumentValues: \"true\" to audit argument values (keys and sizes are always audited)");
        }
        var userHeader = metadata.GetValueOrDefault(UserHeaderKey);
        var userIssuer = metadata.GetValueOrDefault(UserIssuerKey);
        Uri? jwks = null;
        if (userHeader is not null)
        {
            if (userHeader.Length == 0 || userHeader.Any(c => c <= ' ' || c >= 127 || c == ':'))
            {
                errors.Add(path + ":Metadata:" + UserHeaderKey, $"'{userHeader}' is not a header name", "e.g. McpUserHeader: X-Mcp-User");
            }
            if (userIssuer is null)
            {
                errors.Add(path + ":Metadata:" + UserIssuerKey, "is required with McpUserHeader", "the user tokens' issuer (their iss claim), e.g. https://login.example.com");
            }
            if (metadata.GetValueOrDefault(UserJwksKey) is not { } jwksText || !Uri.TryCreate(jwksText, UriKind.Absolute, out jwks) || (jwks.Scheme != Uri.UriSchemeHttps && jwks.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add(path + ":Metadata:" + UserJwksKey, "must be the issuer's JWKS URL (http or https)", "e.g. McpUserJwksUrl: https://login.example.com/.well-known/jwks.json");
            }
        }
        else
        {
            foreach (var key in new[] { UserIssuerKey, UserJwksKey, UserAudienceKey, UserRequiredKey })
            {
                if (metadata.ContainsKey(key))
                {
                    errors.Add(path + ":Metadata:" + key, "applies only with McpUserHeader", "add McpUserHeader: X-Mcp-User (the header the agent sends the user's token in), or remove " + key);
                }
            }
        }
        var required = userHeader is not null;
        if (metadata.GetValueOrDefault(UserRequiredKey) is { } requiredText && !bool.TryParse(requiredText, out required))
        {
            errors.Add(path + ":Metadata:" + UserRequiredKey, $"'{requiredText}' is not true or false", "write McpUserRequired: \"false\" to let agents call without a user token");
        }
        return new McpRouteSettings
        {
            UserHeader = userHeader,
            UserIssuer = userIssuer,
            UserJwks = jwks,
            UserAudience = metadata.GetValueOrDefault(UserAudienceKey),
            UserRequired = required,
            MaxMessageBytes = Number(MaxMessageBytesKey, DefaultMaxMessageBytes, 64),
            MaxDepth = Number(MaxDepthKey, DefaultMaxDepth, 4),
            MaxBatch = Number(MaxBatchKey, DefaultMaxBatch, 1),
            MaxListBytes = Number(MaxListBytesKey, DefaultMaxListBytes, 1024),
            AuditArgumentValues = audit,
        };
    }
}
