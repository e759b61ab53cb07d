using System.Collections.Frozen;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Tests.Policy;

/// <summary><see cref="PolicyModel.Explain"/> is the proxy's decision with a trace: the same answer, and every rule it weighed.</summary>
public sealed class PolicyTraceTests
{
    private static readonly DateTimeOffset Wednesday10Utc = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly SpiffeId Api = SpiffeId.Parse("spiffe://example.org/ns/payments/sa/api");

    private static PolicyRule Rule(string name, int index, bool deny, string identity, string[]? methods = null, string[]? paths = null, Schedule? schedule = null, bool requireGrant = false) =>
        new(name, index, deny,
            [SpiffeIdPattern.TryParse(identity, out var p, out _) ? p : throw new ArgumentException(identity)],
            ["github"],
            methods?.ToFrozenSet(StringComparer.OrdinalIgnoreCase),
            paths?.Select(x => PathPattern.TryParse(x, out var pattern, out _) ? pattern! : throw new ArgumentException(x)).ToList(),
            schedule, requireGrant);

    private static readonly PolicyModel Model = new([
        Rule("reads", 0, false, Api.Value, methods: ["GET"], paths: ["/repos/**"]),
        Rule("writes-with-grant", 1, false, "spiffe://example.org/ns/payments/*", methods: ["POST"], requireGrant: true),
        Rule("no-deletes", 2, true, "spiffe://example.org/*", methods: ["DELETE"]),
        Rule("nights", 3, false, "spiffe://example.org/ns/payments/*", methods: ["PUT"],
            schedule: new Schedule(new HashSet<DayOfWeek>([DayOfWeek.Wednesday]), new TimeOnly(22, 0), new TimeOnly(6, 0), TimeZoneInfo.Utc)),
    ]);

    [Theory]
    [InlineData("GET", "/repos/x")]
    [InlineData("GET", "/other")]
    [InlineData("POST", "/repos/x")]
    [InlineData("DELETE", "/repos/x")]
    [InlineData("PUT", "/repos/x")]
    [InlineData("PATCH", "/repos/x")]
    public void Explains_with_the_very_decision_the_proxy_makes(string method, string path)
    {
        var decided = Model.Decide(Api, "github", method, path, Wednesday10Utc, GrantSet.Empty);
        var trace = new PolicyTrace();
        var explained = Model.Explain(Api, "github", method, path, Wednesday10Utc, GrantSet.Empty, AttestationKind.X509Svid, null, default, trace);
        Assert.Equal(decided.IsAllowed, explained.IsAllowed);
        Assert.Equal(decided.Reason, explained.Reason);
        Assert.Same(decided.Rule, explained.Rule);
        Assert.NotEmpty(trace.Verdicts);
    }

    [Fact]
    public void Traces_deny_rules_first_then_allow_rules_with_why_each_did_not_apply()
    {
        var trace = new PolicyTrace();
        var decision = Model.Explain(Api, "github", "PUT", "/repos/x", Wednesday10Utc, GrantSet.Empty, AttestationKind.X509Svid, null, default, trace);
        Assert.False(decision.IsAllowed);
        Assert.Equal(
            ["no-deletes: method", "reads: method", "writes-with-grant: method", "nights: schedule"],
            trace.Verdicts.Select(v => $"{v.Rule.Name}: {v.Mismatch}"));
        Assert.Equal("spiffe://example.org/*", trace.Verdicts[0].MatchedBy);
        Assert.Equal(Api.Value, trace.Verdicts[1].MatchedBy);
        Assert.Equal("spiffe://example.org/ns/payments/*", trace.Verdicts[2].MatchedBy);
    }

    [Fact]
    public void Traces_a_rule_that_applies_but_needs_a_grant()
    {
        var trace = new PolicyTrace();
        var decision = Model.Explain(Api, "github", "POST", "/repos/x", Wednesday10Utc, GrantSet.Empty, AttestationKind.X509Svid, null, default, trace);
        Assert.Equal("grant_required", decision.Reason);
        Assert.Contains(trace.Verdicts, v => v.Rule.Name == "writes-with-grant" && v.GrantMissing && !v.Applied);

        var granted = new GrantSet([(Api.Value, "github", Wednesday10Utc.AddHours(-1), Wednesday10Utc.AddHours(1))]);
        var withGrant = new PolicyTrace();
        Assert.True(Model.Explain(Api, "github", "POST", "/repos/x", Wednesday10Utc, granted, AttestationKind.X509Svid, null, default, withGrant).IsAllowed);
        Assert.True(withGrant.Verdicts.Single(v => v.Rule.Name == "writes-with-grant").Applied);
    }

    [Fact]
    public void Says_when_no_rule_names_the_route()
    {
        var trace = new PolicyTrace();
        Assert.False(Model.Explain(Api, "stripe", "GET", "/x", Wednesday10Utc, null, AttestationKind.X509Svid, null, default, trace).IsAllowed);
        Assert.True(trace.RouteUnknown);
        Assert.Empty(trace.Verdicts);
    }
}
