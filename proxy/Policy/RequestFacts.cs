using SecretlessProxy.Identity;

namespace SecretlessProxy.Policy;

/// <summary>What a decision is about, passed by reference through the lookup (no allocation).</summary>
internal readonly record struct RequestFacts(SpiffeId Caller, string RouteId, string Method, string Path, DateTimeOffset Now, GrantSet? Grants, AttestationKind Attestation, IReadOnlyDictionary<string, string>? Facts = null, DecisionContext Context = default);
