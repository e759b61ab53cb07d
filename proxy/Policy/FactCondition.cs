using System.Collections.Frozen;

namespace SecretlessProxy.Policy;

/// <summary>
/// One fact a rule's <c>when</c> requires of the caller's attestation: the fact (<c>uid</c>, <c>path</c>,
/// <c>sha256</c>, ...) must be present and equal one of the values.
/// </summary>
public sealed class FactCondition(string fact, IEnumerable<string> values)
{
    /// <summary>The facts attestors set, by kind: what <c>when</c> may name.</summary>
    public static readonly IReadOnlyList<string> Known = ["uid", "gid", "path", "sha256", "cgroup", "podUid", "containerId", "identity", "issuer", "serialNumber", "subject", "tokenIssuer"];

    /// <summary>Facts named <c>claim.NAME</c>: a bearer token's claims its issuer lists under <c>facts</c> (repository, ref, ...).</summary>
    public const string ClaimPrefix = Identity.Bearer.TokenClaimMapper.ClaimFactPrefix;

    public string Fact { get; } = fact;

    public FrozenSet<string> Values { get; } = values.ToFrozenSet(StringComparer.Ordinal);

    public bool HoldsFor(IReadOnlyDictionary<string, string>? facts) =>
        facts is not null && facts.TryGetValue(Fact, out var value) && Values.Contains(value);

    public override string ToString() => Fact + "=" + string.Join(',', Values.Order(StringComparer.Ordinal));
}
