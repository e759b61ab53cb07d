using System.Net;

namespace SecretlessProxy.Policy;

/// <summary>
/// What a decision may look at besides the identity and the call: the listener the call came in on, the peer's
/// address (null on a Unix socket), the caller's context facts (null when unknown or stale), and on an MCP route the
/// MCP message being decided (null for the HTTP request itself).
/// </summary>
public readonly record struct DecisionContext(string? Listener, IPAddress? Source, ContextFacts? Facts, McpCall? Mcp = null);
