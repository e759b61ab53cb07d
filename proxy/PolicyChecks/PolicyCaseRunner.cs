using System.Text;
using SecretlessProxy.Configuration;

namespace SecretlessProxy.PolicyChecks;

/// <summary>Runs a case file's cases against a config, each through <see cref="PolicyExplainer"/>, and reports each mismatch as a small diff.</summary>
public static class PolicyCaseRunner
{
    /// <summary>The report text and how many cases failed.</summary>
    public static (string Report, int Failed) Run(ProxyConfig config, IReadOnlyList<PolicyCase> cases)
    {
        ArgumentNullException.ThrowIfNull(cases);
        var text = new StringBuilder();
        var failed = 0;
        foreach (var item in cases)
        {
            var explanation = PolicyExplainer.Explain(config, item.Query, out var problem);
            var actual = explanation is null ? "error: " + problem : Describe(explanation.IsAllowed, explanation.Rule ?? PolicyCase.NoRule, explanation.Reason);
            var passed = explanation is not null && explanation.IsAllowed == item.ExpectAllow
                && (item.ExpectRule is null || string.Equals(item.ExpectRule, explanation.Rule ?? PolicyCase.NoRule, StringComparison.Ordinal))
                && (item.ExpectReason is null || string.Equals(item.ExpectReason, explanation.Reason, StringComparison.Ordinal));
            if (passed)
            {
                text.Append("PASS ").Append(item.Name).Append(": ").AppendLine(actual);
                continue;
            }
            failed++;
            text.Append("FAIL ").Append(item.Name).Append(" (").Append(item.Where).Append("): ")
                .Append(item.Query.Identity).Append(' ').Append(item.Query.Method).Append(' ').AppendLine(item.Query.Path);
            text.Append("  - expected: ").AppendLine(Describe(item.ExpectAllow, item.ExpectRule, item.ExpectReason));
            text.Append("  + actual:   ").AppendLine(actual);
            if (explanation is not null)
            {
                text.Append("    because:  ").AppendLine(explanation.Detail);
                foreach (var change in explanation.WouldChange)
                {
                    text.Append("    would change it: ").AppendLine(change);
                }
            }
        }
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{cases.Count} case(s): {cases.Count - failed} passed, {failed} failed").AppendLine();
        return (text.ToString(), failed);
    }

    private static string Describe(bool allow, string? rule, string? reason) =>
        (allow ? "allow" : "deny")
        + (rule is null ? "" : rule == PolicyCase.NoRule ? " by no rule" : $" by rule '{rule}'")
        + (reason is null ? "" : $" ({reason})");
}
