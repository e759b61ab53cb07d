using SecretlessProxy.Abstractions;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Decisions;

/// <summary>The credential a front-end puts on the call (or logs in with), or the catalog entry to refuse with and our own detail.</summary>
public readonly record struct CredentialOutcome(Credential? Credential, Refusal? Refusal, string? Detail);
