using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Tests.Policy;

/// <summary>Rules with requireGrant: the policy stays a pure function of (caller, route, request, grants, time).</summary>
public sealed class GrantPolicyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private static readonly SpiffeId Runner = SpiffeId.Parse("spiffe://example.org/ns/ci/sa/runner");

    private static PolicyModel Model(bool alsoPlainAllow = false)
    {
        Assert.True(SpiffeIdPattern.TryParse("spiffe://example.org/ns/ci/*", out var ci, out _));
        List<PolicyRule> rules = [new("ci-deploys", 0, false, [ci], ["deploy"], null, null, null, requireGrant: true)];
        if (alsoPlainAllow)
        {
            Assert.True(SpiffeIdPattern.TryParse("spiffe://example.org/*", out var all, out _));
            rules.Add(new PolicyRule("everyone-deploys", 1, false, [all], ["deploy"], null, null, null));
        }
        return new PolicyModel(rules);
    }

    private static GrantSet Grants(params (string Identity, string Route, int FromMinutes, int UntilMinutes)[] windows) =>
        new(windows.Select(w => (w.Identity, w.Route, Now.AddMinutes(w.FromMinutes), Now.AddMinutes(w.UntilMinutes))));

    [Theory]
    [InlineData(-10, 30, true)]
    [InlineData(0, 30, true)]
    [InlineData(-30, 0, false)]
    [InlineData(5, 30, false)]
    public void Allows_only_inside_a_live_window(int from, int until, bool allowed)
    {
        var decision = Model().Decide(Runner, "deploy", "POST", "/deploy", Now, Grants((Runner.Value, "deploy", from, until)));
        Assert.Equal(allowed, decision.IsAllowed);
        Assert.Equal("ci-deploys", decision.Rule?.Name);
        Assert.Equal(allowed ? Decision.AllowedReason : RefusalCatalog.GrantRequired.Reason, decision.Reason);
    }

    [Fact]
    public void A_grant_for_another_identity_or_route_does_not_count()
    {
        var grants = Grants(("spiffe://example.org/ns/ci/sa/other", "deploy", -1, 30), (Runner.Value, "other-route", -1, 30));
        Assert.Equal(RefusalCatalog.GrantRequired.Reason, Model().Decide(Runner, "deploy", "POST", "/deploy", Now, grants).Reason);
        Assert.Equal(RefusalCatalog.GrantRequired.Reason, Model().Decide(Runner, "deploy", "POST", "/deploy", Now).Reason);
    }

    [Fact]
    public void Another_rule_that_needs_no_grant_still_allows()
    {
        var decision = Model(alsoPlainAllow: true).Decide(Runner, "deploy", "POST", "/deploy", Now, GrantSet.Empty);
        Assert.True(decision.IsAllowed);
        Assert.Equal("everyone-deploys", decision.Rule?.Name);
    }

    [Fact]
    public void Deciding_with_grants_allocates_nothing()
    {
        var model = Model();
        var grants = Grants((Runner.Value, "deploy", -1, 30));
        model.Decide(Runner, "deploy", "POST", "/deploy", Now, grants);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            model.Decide(Runner, "deploy", "POST", "/deploy", Now, grants);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
