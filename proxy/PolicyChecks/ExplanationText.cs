using System.Text;

namespace SecretlessProxy.PolicyChecks;

/// <summary>The text <c>explain</c> prints: route, each rule weighed and why, the decision, what would change it.</summary>
public static class ExplanationText
{
    public static string Render(Explanation explanation, PolicyQuery query)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        ArgumentNullException.ThrowIfNull(query);
        var text = new StringBuilder();
        text.Append("caller:   ").Append(explanation.Caller).AppendLine(explanation.CallerName is { } name ? $" (identity '{name}')" : "");
        text.Append("request:  ").Append(query.Method).Append(' ').Append(query.Path)
            .Append(" at ").Append(query.At.ToString("yyyy-MM-dd'T'HH:mm:ssK", System.Globalization.CultureInfo.InvariantCulture))
            .Append(", attested by ").Append(Identity.AttestationKinds.Name(query.AttestedBy))
            .AppendLine(query.Grants.Count == 0 ? ", no grants" : ", grants: " + string.Join(", ", query.Grants));
        text.AppendLine("route:");
        foreach (var line in explanation.RouteLines)
        {
            text.Append("  ").AppendLine(line);
        }
        if (explanation.Trace is { } trace)
        {
            text.AppendLine("rules considered (deny rules first, then allow; exact ID, then longest prefix):");
            if (trace.Verdicts.Count == 0)
            {
                text.AppendLine("  (none names this caller on this route)");
            }
            foreach (var verdict in trace.Verdicts)
            {
                var effect = verdict.Rule.IsDeny ? "deny " : "allow";
                var outcome = verdict.GrantMissing ? "applies, but requires a live grant the caller does not hold"
                    : verdict.Mismatch is null ? (verdict.Unknown ? "applies (a fact it names is unknown, and unknown never allows)" : "applies")
                    : $"does not apply: {verdict.Mismatch} does not match{(verdict.Unknown ? " (a fact it names is unknown)" : "")}";
                text.Append("  ").Append(effect).Append(" '").Append(verdict.Rule.Name).Append("' via ").Append(verdict.MatchedBy).Append(": ").AppendLine(outcome);
            }
            foreach (var rule in explanation.NotReached)
            {
                text.Append("  ").Append(rule.IsDeny ? "deny " : "allow").Append(" '").Append(rule.Name).AppendLine("': not reached (an earlier rule decided)");
            }
            foreach (var rule in explanation.NotNamingCaller)
            {
                text.Append("  ").Append(rule.IsDeny ? "deny " : "allow").Append(" '").Append(rule.Name).Append("': does not name this caller (")
                    .Append(string.Join(", ", rule.Identities)).AppendLine(")");
            }
        }
        text.Append("winning rule: ").AppendLine(explanation.Rule is { } rule2 ? $"'{rule2}'" : explanation.Reason == Explanation.NoRoute ? "none (no route)" : "none (default deny)");
        foreach (var step in explanation.After)
        {
            text.Append("then: ").AppendLine(step);
        }
        text.Append("decision: ").Append(explanation.IsAllowed ? "ALLOW" : "DENY").Append(" (").Append(explanation.Reason).Append("): ").AppendLine(explanation.Detail);
        text.AppendLine("would change it:");
        foreach (var change in explanation.WouldChange)
        {
            text.Append("  - ").AppendLine(change);
        }
        return text.ToString();
    }
}
