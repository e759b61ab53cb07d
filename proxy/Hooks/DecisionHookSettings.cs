using System.Collections.Frozen;

namespace SecretlessProxy.Hooks;

/// <summary>
/// The external decision hook (<c>decisionHook</c>): an OPA-style data API asked about every call the policy
/// allowed on the routes it covers, how long it may take, how long its answers are reused, and what a failure means.
/// </summary>
public sealed record DecisionHookSettings(Uri Endpoint, FrozenSet<string>? Routes, TimeSpan Timeout, TimeSpan CacheTtl, bool FailOpen)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMilliseconds(500);
    public static readonly TimeSpan DefaultCacheTtl = TimeSpan.FromSeconds(10);

    /// <summary>Decisions kept at most; when full, the cache starts over.</summary>
    public const int MaxCachedDecisions = 10_000;

    public bool Covers(string route) => Routes is null || Routes.Contains(route);

    /// <summary>Records compare by value, but a set compares by reference: compare its members.</summary>
    public bool Equals(DecisionHookSettings? other) => other is not null && Endpoint == other.Endpoint && Timeout == other.Timeout && CacheTtl == other.CacheTtl
        && FailOpen == other.FailOpen && (Routes is null ? other.Routes is null : other.Routes is not null && Routes.SetEquals(other.Routes));

    public override int GetHashCode() => HashCode.Combine(Endpoint, Timeout, CacheTtl, FailOpen, Routes?.Count);
}
