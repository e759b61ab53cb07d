namespace SecretlessProxy.Policy;

/// <summary>What the policy decided, by which rule (null when no rule matched), and why.</summary>
public sealed class Decision
{
    public const string AllowedReason = "allowed";

    private Decision(bool allowed, PolicyRule? rule, string reason, string detail)
    {
        IsAllowed = allowed;
        Rule = rule;
        Reason = reason;
        Detail = detail;
    }

    public bool IsAllowed { get; }

    public PolicyRule? Rule { get; }

    /// <summary>Stable code: <c>allowed</c>, <c>denied_by_rule</c>, <c>grant_required</c>, <c>context_facts_unknown</c>, <c>mcp_argument_refused</c> or <c>no_rule_matched</c>.</summary>
    public string Reason { get; }

    public string Detail { get; }

    internal static Decision AllowedBy(PolicyRule rule) => new(true, rule, AllowedReason, $"rule '{rule.Name}' allows it");

    internal static Decision DeniedBy(PolicyRule rule) => new(false, rule, Refusals.RefusalCatalog.DeniedByRule.Reason, $"rule '{rule.Name}' denies it");

    internal static Decision GrantRequiredBy(PolicyRule rule) =>
        new(false, rule, Refusals.RefusalCatalog.GrantRequired.Reason, $"rule '{rule.Name}' allows it only with a live grant, and the caller holds none for this route");

    internal static Decision DeniedUnknownBy(PolicyRule rule) =>
        new(false, rule, Refusals.RefusalCatalog.DeniedByRule.Reason, $"rule '{rule.Name}' denies it: a fact its conditions name is unknown for this caller, and an unknown fact never allows");

    internal static Decision FactsUnknown(PolicyRule rule, string what) =>
        new(false, rule, Refusals.RefusalCatalog.ContextFactsUnknown.Reason, $"rule '{rule.Name}' would allow it only on a condition over {what}; unknown facts never allow");

    internal static Decision McpArgumentRefused(PolicyRule rule, string what) =>
        new(false, rule, Refusals.RefusalCatalog.McpArgumentRefused.Reason, $"rule '{rule.Name}' covers this MCP call, but not its arguments: {what}");

    internal static Decision NoRuleMatched(string detail) => new(false, null, Refusals.RefusalCatalog.NoRuleMatched.Reason, detail);
}
