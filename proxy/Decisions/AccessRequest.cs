namespace SecretlessProxy.Decisions;

/// <summary>
/// What a caller asks for, whatever the protocol: the route (for a database listener, the database), the
/// operation (an HTTP method; a database operation) and the target on it (a path; a table or statement class).
/// </summary>
public readonly record struct AccessRequest(string Route, string Operation, string Target)
{
    /// <summary>The listener the call came in on (rules' <c>when.request.listener</c>).</summary>
    public string? Listener { get; init; }

    /// <summary>The peer's address; null on a Unix socket (rules' <c>when.request.sourceAddress</c>).</summary>
    public System.Net.IPAddress? Source { get; init; }

    /// <summary>On an MCP route, the MCP message decided (rules' <c>mcp:</c> blocks); null for the HTTP request itself.</summary>
    public Policy.McpCall? Mcp { get; init; }
}
