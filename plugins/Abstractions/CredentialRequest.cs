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
}
