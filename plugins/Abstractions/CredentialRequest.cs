namespace SecretlessProxy.Abstractions;

/// <summary>What the proxy knows about the call a credential is wanted for.</summary>
/// <param name="CredentialName">The credential's name in the config.</param>
/// <param name="RouteId">The route the call matched.</param>
/// <param name="WorkloadId">The caller's identity (a SPIFFE ID), for workload-bound credentials.</param>
public sealed record CredentialRequest(string CredentialName, string RouteId, string? WorkloadId)
{
    /// <summary>
    /// On a refresh, the credential the broker still holds for this caller while it is valid; null on a first fetch.
    /// A provider that can extend a credential (renew a lease) may return it with a later
    /// <see cref="Credential.ExpiresAt"/> and the same <see cref="Credential.Username"/> and secret; the broker then
    /// treats it as the same credential (it is not released as replaced). Other providers ignore it.
    /// </summary>
    public Credential? Renewing { get; init; }

    /// <summary>
    /// The user the calling agent acts for, when the route validated one (an MCP route's <c>McpUserHeader</c>); null
    /// otherwise. An on-behalf-of provider exchanges the user's token; the broker then caches per (workload, user).
    /// </summary>
    public ActingUser? OnBehalfOf { get; init; }
}

/// <summary>A user an agent acts for: the validated subject, and the token that proved it (for an on-behalf-of exchange only).</summary>
/// <param name="Subject">The token's validated <c>sub</c>.</param>
/// <param name="Token">The user's token as the agent sent it. Never logged; sent only to a token endpoint as <c>subject_token</c>.</param>
/// <param name="ExpiresAt">When the user's token expires: nothing issued on its strength should outlive it.</param>
public sealed record ActingUser(string Subject, SecretValue Token, DateTimeOffset? ExpiresAt);
