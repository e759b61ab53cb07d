using System.Net;

namespace SecretlessProxy.Policy;

/// <summary>
/// What a decision may look at besides the identity and the call: the listener the call came in on, the peer's
/// address (null on a Unix socket), and the caller's context facts (null when unknown or stale).
/// </summary>
public readonly record struct DecisionContext(string? Listener, IPAddress? Source, ContextFacts? Facts);
