using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.Refusals;

/// <summary>
/// A request feature set by a front-end that answers refusals in its own protocol: on an MCP route, a refusal of the
/// caller (<see cref="Refusal.Deny"/>) made after the messages were decided, such as a per-user secret the user does not
/// have, is answered as JSON-RPC errors the agent's SDK surfaces, as the policy's refusals are.
/// </summary>
public interface IRefusalAnswer
{
    /// <summary>Answers <paramref name="refusal"/> with our own <paramref name="detail"/> and records it on the request's <see cref="IRefusalSink"/>.</summary>
    Task WriteAsync(HttpContext context, Refusal refusal, string detail);
}
