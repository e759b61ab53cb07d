using SecretlessProxy.Policy;

namespace SecretlessProxy.PolicyChecks;

/// <summary>
/// What <see cref="PolicyExplainer"/> found for one request: the caller, how the route was chosen, every rule
/// weighed (in the decision core's order), the rules of the route that do not name the caller, the decision (with
/// its reason code and deciding rule) and what would change it.
/// </summary>
public sealed record Explanation
{
    public required string Caller { get; init; }

    /// <summary>The caller's name under <c>identities</c>, when it has one.</summary>
    public string? CallerName { get; init; }

    /// <summary>The route decided; null when no route matches (the proxy answers 404 and nothing is forwarded).</summary>
    public string? Route { get; init; }

    /// <summary>How the route was chosen, one line each.</summary>
    public required IReadOnlyList<string> RouteLines { get; init; }

    /// <summary>Null when no route matched.</summary>
    public PolicyTrace? Trace { get; init; }

    /// <summary>Rules that name the route but not this caller (the core never looks at them for this caller).</summary>
    public IReadOnlyList<PolicyRule> NotNamingCaller { get; init; } = [];

    /// <summary>Rules naming the route and caller that the core did not reach: an earlier rule decided.</summary>
    public IReadOnlyList<PolicyRule> NotReached { get; init; } = [];

    public required bool IsAllowed { get; init; }

    /// <summary>The stable reason code (<c>allowed</c>, <c>no_rule_matched</c>, <c>denied_by_rule</c>, ..., <c>no_route</c>).</summary>
    public required string Reason { get; init; }

    /// <summary>The deciding rule's name, or null (default deny, no route).</summary>
    public string? Rule { get; init; }

    public required string Detail { get; init; }

    /// <summary>Steps after the policy the proxy also takes (the credential's class, the decision hook).</summary>
    public IReadOnlyList<string> After { get; init; } = [];

    /// <summary>What would change the decision.</summary>
    public required IReadOnlyList<string> WouldChange { get; init; }

    /// <summary>The reason code when no configured route matches the request.</summary>
    public const string NoRoute = "no_route";
}
