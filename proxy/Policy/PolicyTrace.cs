namespace SecretlessProxy.Policy;

/// <summary>
/// What one decision looked at, rule by rule, in the order the decision core looked (deny rules first, then allow
/// rules; exact ID before longer prefixes before shorter ones). Filled only by <see cref="PolicyModel.Explain"/>
/// (<c>explain</c>, <c>test</c>): the proxy's own decisions pass no trace and pay one null check per rule.
/// </summary>
public sealed class PolicyTrace
{
    private readonly List<RuleVerdict> _verdicts = [];

    /// <summary>Every rule the core weighed, with why it applied or not.</summary>
    public IReadOnlyList<RuleVerdict> Verdicts => _verdicts;

    /// <summary>True when the route is named by no rule at all (the core looked at nothing).</summary>
    public bool RouteUnknown { get; internal set; }

    internal void Weighed(PolicyRule rule, string matchedBy, string? mismatch, bool unknown, bool grantMissing) =>
        _verdicts.Add(new RuleVerdict(rule, matchedBy, mismatch, unknown, grantMissing));
}

/// <summary>
/// One rule as the core weighed it: the identity entry that brought it in (<c>matchedBy</c>: the exact ID or a
/// prefix), what did not match (null when the rule applied), whether a fact it names was unknown, and whether it
/// applied but needed a live grant the caller does not hold.
/// </summary>
public sealed record RuleVerdict(PolicyRule Rule, string MatchedBy, string? Mismatch, bool Unknown, bool GrantMissing)
{
    /// <summary>True when the rule decided the request (it applied, and a grant it requires is held).</summary>
    public bool Applied => Mismatch is null && !GrantMissing;
}
