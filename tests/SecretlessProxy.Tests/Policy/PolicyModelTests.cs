using System.Collections.Frozen;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Tests.Policy;

public sealed class PolicyModelTests
{
    private static readonly DateTimeOffset Monday10Utc = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private static readonly SpiffeId Api = SpiffeId.Parse("spiffe://example.org/ns/payments/sa/api");

    private static PolicyRule Rule(string name, bool deny, string[] identities, string[] routes, string[]? methods = null, string[]? paths = null, Schedule? schedule = null, int index = 0) =>
        new(name, index, deny,
            identities.Select(i => SpiffeIdPattern.TryParse(i, out var p, out _) ? p : throw new ArgumentException(i)).ToList(),
            routes,
            methods?.ToFrozenSet(StringComparer.OrdinalIgnoreCase),
            paths?.Select(p => PathPattern.TryParse(p, out var pattern, out _) ? pattern! : throw new ArgumentException(p)).ToList(),
            schedule);

    [Fact]
    public void Denies_by_default()
    {
        var model = new PolicyModel([]);
        var decision = model.Decide(Api, "github", "GET", "/github/x", Monday10Utc);
        Assert.False(decision.IsAllowed);
        Assert.Equal(RefusalCatalog.NoRuleMatched.Reason, decision.Reason);
        Assert.Null(decision.Rule);
    }

    [Fact]
    public void Allows_exact_identity_on_named_route_only()
    {
        var model = new PolicyModel([Rule("r", false, [Api.Value], ["github"])]);
        Assert.True(model.Decide(Api, "github", "GET", "/x", Monday10Utc).IsAllowed);
        Assert.False(model.Decide(Api, "stripe", "GET", "/x", Monday10Utc).IsAllowed);
        Assert.False(model.Decide(SpiffeId.Parse("spiffe://example.org/ns/payments/sa/other"), "github", "GET", "/x", Monday10Utc).IsAllowed);
    }

    [Fact]
    public void Explicit_deny_beats_allow_whatever_the_order()
    {
        var model = new PolicyModel([
            Rule("allow-exact", false, [Api.Value], ["github"], index: 0),
            Rule("deny-namespace", true, ["spiffe://example.org/ns/payments/*"], ["github"], index: 1),
        ]);
        var decision = model.Decide(Api, "github", "GET", "/x", Monday10Utc);
        Assert.False(decision.IsAllowed);
        Assert.Equal("deny-namespace", decision.Rule!.Name);
        Assert.Equal(RefusalCatalog.DeniedByRule.Reason, decision.Reason);
    }

    [Fact]
    public void Deny_limited_by_method_only_denies_that_method()
    {
        var model = new PolicyModel([
            Rule("allow", false, ["spiffe://example.org/*"], ["github"]),
            Rule("no-deletes", true, ["spiffe://example.org/*"], ["github"], methods: ["DELETE"]),
        ]);
        Assert.True(model.Decide(Api, "github", "GET", "/x", Monday10Utc).IsAllowed);
        Assert.Equal("no-deletes", model.Decide(Api, "github", "DELETE", "/x", Monday10Utc).Rule!.Name);
    }

    [Theory]
    [InlineData("GET", "/github/repos/a/b", true)]
    [InlineData("get", "/github/repos/a/b", true)]
    [InlineData("POST", "/github/repos/a/b", false)]
    [InlineData("GET", "/github/user", false)]
    [InlineData("GET", "/GITHUB/REPOS/a", true)]
    [InlineData("GET", "/github/repos", true)]
    [InlineData("GET", "/github/reposx", false)]
    public void Methods_and_paths_narrow_an_allow(string method, string path, bool allowed)
    {
        var model = new PolicyModel([Rule("reads", false, [Api.Value], ["github"], methods: ["GET"], paths: ["/github/repos/**"])]);
        var decision = model.Decide(Api, "github", method, path, Monday10Utc);
        Assert.Equal(allowed, decision.IsAllowed);
        if (!allowed)
        {
            Assert.Contains("reads", decision.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Most_specific_allow_names_the_decision()
    {
        var model = new PolicyModel([
            Rule("whole-domain", false, ["spiffe://example.org/*"], ["github"], index: 0),
            Rule("exact", false, [Api.Value], ["github"], index: 1),
        ]);
        Assert.Equal("exact", model.Decide(Api, "github", "GET", "/", Monday10Utc).Rule!.Name);
        Assert.Equal("whole-domain", model.Decide(SpiffeId.Parse("spiffe://example.org/x"), "github", "GET", "/", Monday10Utc).Rule!.Name);
    }

    [Fact]
    public void Prefix_pattern_does_not_cross_trust_domains()
    {
        var model = new PolicyModel([Rule("r", false, ["spiffe://example.org/*"], ["github"])]);
        Assert.False(model.Decide(SpiffeId.Parse("spiffe://example.org.evil/ns/x"), "github", "GET", "/", Monday10Utc).IsAllowed);
        Assert.False(model.Decide(SpiffeId.Parse("spiffe://other.org/ns/x"), "github", "GET", "/", Monday10Utc).IsAllowed);
    }

    [Fact]
    public void Schedule_limits_an_allow_to_its_window()
    {
        var weekdays = new HashSet<DayOfWeek> { DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday };
        var schedule = new Schedule(weekdays, new TimeOnly(8, 0), new TimeOnly(18, 0), TimeZoneInfo.Utc);
        var model = new PolicyModel([Rule("office-hours", false, [Api.Value], ["github"], schedule: schedule)]);
        Assert.True(model.Decide(Api, "github", "GET", "/", Monday10Utc).IsAllowed);
        Assert.False(model.Decide(Api, "github", "GET", "/", Monday10Utc.AddHours(9)).IsAllowed);
        Assert.False(model.Decide(Api, "github", "GET", "/", Monday10Utc.AddDays(-1)).IsAllowed);
    }

    [Theory]
    [InlineData(23, DayOfWeek.Monday, true)]
    [InlineData(2, DayOfWeek.Tuesday, true)]
    [InlineData(2, DayOfWeek.Monday, false)]
    [InlineData(12, DayOfWeek.Monday, false)]
    public void Overnight_window_belongs_to_the_day_it_starts(int hour, DayOfWeek day, bool active)
    {
        var schedule = new Schedule(new HashSet<DayOfWeek> { DayOfWeek.Monday }, new TimeOnly(22, 0), new TimeOnly(6, 0), TimeZoneInfo.Utc);
        var date = new DateTimeOffset(2026, 11, 23, hour, 0, 0, TimeSpan.Zero); // a Monday
        date = date.AddDays(((int)day - (int)date.DayOfWeek + 7) % 7);
        Assert.Equal(active, schedule.IsActive(date));
    }

    [Fact]
    public void Decision_for_an_identity_is_the_same_among_ten_thousand_rules()
    {
        var rules = Enumerable.Range(0, 10_000)
            .Select(i => Rule($"r{i}", false, [$"spiffe://example.org/ns/team{i}/sa/app"], ["github"], index: i))
            .Append(Rule("mine", false, [Api.Value], ["github"], index: 10_000))
            .ToList();
        var model = new PolicyModel(rules);
        Assert.Equal("mine", model.Decide(Api, "github", "GET", "/", Monday10Utc).Rule!.Name);
        Assert.Equal("r4242", model.Decide(SpiffeId.Parse("spiffe://example.org/ns/team4242/sa/app"), "github", "GET", "/", Monday10Utc).Rule!.Name);
        Assert.False(model.Decide(SpiffeId.Parse("spiffe://example.org/ns/team4242/sa/other"), "github", "GET", "/", Monday10Utc).IsAllowed);
    }

    [Theory]
    [InlineData("TRACE", null, false)]
    [InlineData("CONNECT", null, false)]
    [InlineData("trace", null, false)]
    [InlineData("GET", null, true)]
    [InlineData("TRACE", new[] { "GET", "TRACE" }, true)]
    [InlineData("CONNECT", new[] { "CONNECT" }, true)]
    public void Trace_and_connect_are_allowed_only_by_a_rule_that_names_them(string method, string[]? methods, bool allowed)
    {
        var model = new PolicyModel([Rule("r", false, [Api.Value], ["github"], methods: methods)]);
        var decision = model.Decide(Api, "github", method, "/github/x", Monday10Utc);
        Assert.Equal(allowed, decision.IsAllowed);
        if (!allowed)
        {
            Assert.Contains("TRACE and CONNECT", decision.Detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_deny_rule_without_methods_still_covers_trace()
    {
        var model = new PolicyModel([
            Rule("allow-trace", false, [Api.Value], ["github"], methods: ["TRACE"]),
            Rule("deny-all", true, [Api.Value], ["github"], index: 1),
        ]);
        Assert.Equal("deny-all", model.Decide(Api, "github", "TRACE", "/github/x", Monday10Utc).Rule?.Name);
    }

    [Fact]
    public void A_route_restricts_methods_only_when_every_allow_rule_on_it_does()
    {
        var model = new PolicyModel([
            Rule("reads", false, [Api.Value], ["github", "mixed"], methods: ["GET"]),
            Rule("anything", false, [Api.Value], ["mixed", "open"], index: 1),
            Rule("no-deletes", true, [Api.Value], ["open"], methods: ["DELETE"], index: 2),
        ]);
        Assert.True(model.RestrictsMethods("github"));
        Assert.True(model.RestrictsMethods("GITHUB"));
        Assert.False(model.RestrictsMethods("mixed"));
        Assert.False(model.RestrictsMethods("open"));
        Assert.False(model.RestrictsMethods("unknown"));
    }

    [Fact]
    public void A_rule_that_names_attestation_kinds_applies_only_to_callers_attested_that_way()
    {
        var rule = new PolicyRule("sockets-only", 0, false, [SpiffeIdPattern.TryParse(Api.Value, out var pattern, out _) ? pattern : throw new ArgumentException(Api.Value)], ["github"], null, null, null,
            attestedBy: new[] { AttestationKind.UnixPeer }.ToFrozenSet());
        var model = new PolicyModel([rule]);
        var overTls = model.Decide(new WorkloadIdentity(Api, Monday10Utc.AddHours(1)), "github", "GET", "/github/x", Monday10Utc);
        Assert.False(overTls.IsAllowed);
        Assert.Contains("attestation (the rule names unix-peer)", overTls.Detail, StringComparison.Ordinal);
        Assert.True(model.Decide(new WorkloadIdentity(Api, Monday10Utc.AddHours(1), AttestationKind.UnixPeer), "github", "GET", "/github/x", Monday10Utc).IsAllowed);
    }

    [Fact]
    public void A_rule_with_facts_applies_only_when_the_attestation_showed_them()
    {
        var rule = new PolicyRule("uid-1001-only", 0, false, [SpiffeIdPattern.TryParse(Api.Value, out var pattern, out _) ? pattern : throw new ArgumentException(Api.Value)], ["github"], null, null, null,
            attestedBy: new[] { AttestationKind.UnixPeer }.ToFrozenSet(), when: [new FactCondition("uid", ["1001"]), new FactCondition("path", ["/usr/bin/a", "/usr/bin/b"])]);
        var model = new PolicyModel([rule]);
        WorkloadIdentity Peer(string uid, string? path) => new(Api, DateTimeOffset.MaxValue, AttestationKind.UnixPeer,
            path is null ? new Dictionary<string, string> { ["uid"] = uid } : new Dictionary<string, string> { ["uid"] = uid, ["path"] = path });
        Assert.True(model.Decide(Peer("1001", "/usr/bin/b"), "github", "GET", "/x", Monday10Utc).IsAllowed);
        var wrongUid = model.Decide(Peer("1002", "/usr/bin/b"), "github", "GET", "/x", Monday10Utc);
        Assert.False(wrongUid.IsAllowed);
        Assert.Contains("attestation fact uid", wrongUid.Detail, StringComparison.Ordinal);
        Assert.False(model.Decide(Peer("1001", null), "github", "GET", "/x", Monday10Utc).IsAllowed);
        Assert.False(model.Decide(Peer("1001", "/usr/bin/c"), "github", "GET", "/x", Monday10Utc).IsAllowed);
    }
}
