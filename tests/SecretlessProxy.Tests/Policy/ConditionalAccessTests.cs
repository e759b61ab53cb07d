using System.Collections.Frozen;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Hooks;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using SecretlessProxy.Posture;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Tests.Policy;

public sealed class ConditionalAccessTests
{
    private static readonly DateTimeOffset Monday10Utc = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private static readonly SpiffeId Api = SpiffeId.Parse("spiffe://example.org/ns/payments/sa/api");
    private static readonly WorkloadIdentity Caller = new(Api, DateTimeOffset.MaxValue);

    private static PolicyRule Rule(string name, bool deny, RuleConditions conditions, int index = 0) =>
        new(name, index, deny, [SpiffeIdPattern.TryParse(Api.Value, out var p, out _) ? p : throw new ArgumentException(Api.Value)], ["github"], null, null, null, conditions: conditions);

    private static RuleConditions Facts(string fact, params string[] values) => new([new FactCondition(fact, values)], null, null, null);

    private static ContextFacts Known(string fact, string value) => new(new Dictionary<string, string> { [fact] = value }, Monday10Utc);

    [Fact]
    public void An_allow_rule_over_context_facts_allows_only_when_they_are_known_and_hold()
    {
        var model = new PolicyModel([Rule("compliant-only", false, Facts("posture", "compliant"))]);
        Assert.True(model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext("mtls", IPAddress.Loopback, Known("posture", "compliant"))).IsAllowed);
        var wrong = model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext("mtls", IPAddress.Loopback, Known("posture", "noncompliant")));
        Assert.Equal(RefusalCatalog.NoRuleMatched.Reason, wrong.Reason);
        var unknown = model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext("mtls", IPAddress.Loopback, null));
        Assert.False(unknown.IsAllowed);
        Assert.Equal(RefusalCatalog.ContextFactsUnknown.Reason, unknown.Reason);
        Assert.Contains("context fact posture", unknown.Detail, StringComparison.Ordinal);
        var missingFact = model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext("mtls", IPAddress.Loopback, Known("env", "prod")));
        Assert.Equal(RefusalCatalog.ContextFactsUnknown.Reason, missingFact.Reason);
    }

    [Fact]
    public void A_deny_rule_over_an_unknown_fact_applies_so_unknown_never_allows()
    {
        var model = new PolicyModel([
            Rule("everyone", false, new RuleConditions(null, null, null, null)),
            Rule("no-noncompliant", true, Facts("posture", "noncompliant"), index: 1),
        ]);
        Assert.True(model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext(null, null, Known("posture", "compliant"))).IsAllowed);
        Assert.Equal("no-noncompliant", model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext(null, null, Known("posture", "noncompliant"))).Rule!.Name);
        var unknown = model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext(null, null, null));
        Assert.False(unknown.IsAllowed);
        Assert.Equal(RefusalCatalog.DeniedByRule.Reason, unknown.Reason);
        Assert.Contains("unknown", unknown.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.1.2.3", "mtls", true)]
    [InlineData("::ffff:10.1.2.3", "mtls", true)]
    [InlineData("192.168.1.1", "mtls", false)]
    [InlineData("10.1.2.3", "other", false)]
    [InlineData(null, "mtls", false)]
    public void Request_facts_listener_and_source_address_must_hold(string? source, string listener, bool allowed)
    {
        var model = new PolicyModel([Rule("from-the-lan", false, new RuleConditions(null, new[] { "mtls" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase), [IPNetwork.Parse("10.0.0.0/8")], null))]);
        var decision = model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, new DecisionContext(listener, source is null ? null : IPAddress.Parse(source), null));
        Assert.Equal(allowed, decision.IsAllowed);
    }

    [Fact]
    public void Time_windows_allow_within_any_of_them()
    {
        var weekdays = new HashSet<DayOfWeek> { DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday };
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        var model = new PolicyModel([Rule("office-hours", false, new RuleConditions(null, null, null, [
            new Schedule(weekdays, new TimeOnly(8, 0), new TimeOnly(12, 0), berlin),
            new Schedule(new HashSet<DayOfWeek> { DayOfWeek.Saturday }, new TimeOnly(9, 0), new TimeOnly(10, 0), berlin),
        ]))]);
        Assert.True(model.Decide(Caller, "github", "GET", "/", Monday10Utc, null, default).IsAllowed); // 11:00 in Berlin
        var afternoon = model.Decide(Caller, "github", "GET", "/", Monday10Utc.AddHours(3), null, default);
        Assert.False(afternoon.IsAllowed);
        Assert.Contains("time", afternoon.Detail, StringComparison.Ordinal);
        Assert.True(model.Decide(Caller, "github", "GET", "/", new DateTimeOffset(2026, 11, 28, 8, 30, 0, TimeSpan.Zero), null, default).IsAllowed); // Saturday 09:30 Berlin
    }

    [Fact]
    public void Posture_documents_keep_scalar_facts_of_spiffe_ids_and_skip_the_rest()
    {
        var facts = PostureDocument.Parse("""{ "spiffe://example.org/ns/a": { "posture": "compliant", "score": 7, "managed": true, "nested": {} }, "not-an-id": {}, "spiffe://example.org/ns/b": "x" }"""u8, out var skipped, out var error);
        Assert.Null(error);
        Assert.Equal(2, skipped);
        Assert.Equal(new Dictionary<string, string> { ["posture"] = "compliant", ["score"] = "7", ["managed"] = "true" }, facts!["spiffe://example.org/ns/a"]);
        Assert.Null(PostureDocument.Parse("[1]"u8, out _, out error));
        Assert.NotNull(error);
        Assert.Null(PostureDocument.Parse("{"u8, out _, out error));
        Assert.NotNull(error);
    }

    [Fact]
    public async Task Posture_facts_count_as_unknown_once_older_than_max_age_and_when_the_file_is_gone()
    {
        var dir = Directory.CreateTempSubdirectory("secretless-posture-").FullName;
        var path = Path.Combine(dir, "posture.json");
        await File.WriteAllTextAsync(path, $$"""{ "{{Api.Value}}": { "posture": "compliant" } }""");
        var time = new FakeTimeProvider(Monday10Utc);
        using var source = new PostureSource(time, NullLogger<PostureSource>.Instance);
        source.Configure(new PostureSettings(path, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1)));
        await source.RefreshAsync();
        Assert.Equal("compliant", source.FactsOf(Api.Value, time.GetUtcNow())!.Values["posture"]);
        Assert.Null(source.FactsOf("spiffe://example.org/ns/other", time.GetUtcNow()));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Null(source.FactsOf(Api.Value, time.GetUtcNow()));
        File.Delete(path);
        await source.RefreshAsync();
        Assert.Null(source.FactsOf(Api.Value, time.GetUtcNow()));
        Directory.Delete(dir, recursive: true);
    }

    [Theory]
    [InlineData("""{"result": {"allow": true, "reason": "ok"}}""", true, "ok", false)]
    [InlineData("""{"result": {"allow": false, "reason": "line\nbreak"}}""", false, "line break", false)]
    [InlineData("""{"result": true}""", true, null, false)]
    [InlineData("""{}""", false, null, true)]
    [InlineData("""{"result": {"reason": "no allow"}}""", false, null, true)]
    [InlineData("""not json""", false, null, true)]
    public void Hook_answers_are_read_in_opa_shape(string answer, bool allowed, string? reason, bool failed)
    {
        var verdict = DecisionHookClient.Read(System.Text.Encoding.UTF8.GetBytes(answer));
        Assert.Equal(failed, verdict.Failed);
        if (!failed)
        {
            Assert.Equal(allowed, verdict.Allowed);
            Assert.Equal(reason, verdict.Reason);
        }
        else
        {
            Assert.False(verdict.Allowed);
        }
    }

    [Fact]
    public void The_hook_input_names_identity_attestation_route_method_path_and_facts()
    {
        var caller = new WorkloadIdentity(Api, DateTimeOffset.MaxValue, AttestationKind.UnixPeer, new Dictionary<string, string> { ["uid"] = "1001" });
        var body = System.Text.Json.JsonDocument.Parse(DecisionHookClient.Body(new HookInput(caller, "github", "GET", "/github/x", "sock", null, Known("posture", "compliant"))));
        var input = body.RootElement.GetProperty("input");
        Assert.Equal(Api.Value, input.GetProperty("identity").GetString());
        Assert.Equal("unix-peer", input.GetProperty("attestation").GetProperty("kind").GetString());
        Assert.Equal("1001", input.GetProperty("attestation").GetProperty("facts").GetProperty("uid").GetString());
        Assert.Equal("github", input.GetProperty("route").GetString());
        Assert.Equal("/github/x", input.GetProperty("path").GetString());
        Assert.Equal("compliant", input.GetProperty("facts").GetProperty("posture").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, input.GetProperty("sourceAddress").ValueKind);
    }
}
