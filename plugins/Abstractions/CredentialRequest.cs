namespace SecretlessProxy.Abstractions;

/// <summary>What the proxy knows about the call a credential is wanted for.</summary>
/// <param name="CredentialName">The credential's name in the config.</param>
/// <param name="RouteId">The route the call matched.</param>
/// <param name="WorkloadId">The caller's identity (a SPIFFE ID), for workload-bound credentials.</param>
public sealed record CredentialRequest(string CredentialName, string RouteId, string? WorkloadId);
