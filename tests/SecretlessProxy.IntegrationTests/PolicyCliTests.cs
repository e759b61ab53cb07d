using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// <c>explain</c>, <c>test</c>, <c>validate --offline</c> and <c>inventory</c> as a config repository's CI runs them: on the
/// example configs copied without any certificate, key or secret file.
/// </summary>
public sealed class PolicyCliTests : IDisposable
{
    private readonly TestPki _pki = new();

    private static Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => CliRun.RunAsync(args);

    private static string Repository => CliRun.Repository;

    /// <summary>An example config copied alone into its own folder (once per test): none of the files it names exist there.</summary>
    private string Example(string name)
    {
        var dir = Path.Combine(_pki.Directory, "repo-" + Path.GetFileNameWithoutExtension(name));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        if (!File.Exists(path))
        {
            File.Copy(Path.Combine(Repository, "config", name), path);
        }
        return path;
    }

    [Fact]
    public async Task Explain_names_the_winning_rule_of_an_allowed_request()
    {
        var config = Example("gateway.yaml");
        var result = await RunAsync("explain", "--config", config, "--identity", "payments-api", "--method", "GET", "--path", "/github/repos/acme/shop");
        Assert.True(result.Exit == 0, result.Err);
        Assert.Contains("route 'github' matches GET /github/repos/acme/shop", result.Out, StringComparison.Ordinal);
        Assert.Contains("deny  'nobody-deletes' via spiffe://example.org/*: does not apply: method does not match", result.Out, StringComparison.Ordinal);
        Assert.Contains("allow 'payments-reads-github' via spiffe://example.org/ns/payments/sa/api: applies", result.Out, StringComparison.Ordinal);
        Assert.Contains("winning rule: 'payments-reads-github'", result.Out, StringComparison.Ordinal);
        Assert.Contains("decision: ALLOW (allowed)", result.Out, StringComparison.Ordinal);
        Assert.Contains("then: credential 'github' (file) is injected", result.Out, StringComparison.Ordinal);
        Assert.Contains("would change it:", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_shows_a_default_deny_and_the_rule_that_nearly_allowed()
    {
        var config = Example("gateway.yaml");
        var result = await RunAsync("explain", "--config", config, "--identity", "spiffe://example.org/ns/payments/sa/api", "--method", "POST", "--path", "/github/repos/acme/shop");
        Assert.True(result.Exit == 0, result.Err);
        Assert.Contains("allow 'payments-reads-github' via spiffe://example.org/ns/payments/sa/api: does not apply: method does not match", result.Out, StringComparison.Ordinal);
        Assert.Contains("winning rule: none (default deny)", result.Out, StringComparison.Ordinal);
        Assert.Contains("decision: DENY (no_rule_matched)", result.Out, StringComparison.Ordinal);
        Assert.Contains("rule 'payments-reads-github' would allow it with a different method (it needs methods GET,HEAD", result.Out, StringComparison.Ordinal);

        var deleted = await RunAsync("explain", "--config", config, "--identity", "payments-api", "--method", "DELETE", "--path", "/github/repos/acme/shop");
        Assert.Contains("winning rule: 'nobody-deletes'", deleted.Out, StringComparison.Ordinal);
        Assert.Contains("decision: DENY (denied_by_rule)", deleted.Out, StringComparison.Ordinal);
        Assert.Contains("deny rule 'nobody-deletes' beats every allow rule", deleted.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_at_a_time_decides_a_schedule_rule_for_that_time()
    {
        var config = Example("gateway.yaml");
        string[] request = ["explain", "--config", config, "--identity", "spiffe://example.org/ns/ci/sa/runner", "--method", "POST", "--path", "/github/repos/acme/shop/statuses/abc"];
        var office = await RunAsync([.. request, "--at", "2026-03-04T10:00:00+01:00"]);
        Assert.True(office.Exit == 0, office.Err);
        Assert.Contains("winning rule: 'ci-writes-github-in-office-hours'", office.Out, StringComparison.Ordinal);
        Assert.Contains("decision: ALLOW", office.Out, StringComparison.Ordinal);

        var night = await RunAsync([.. request, "--at", "2026-03-07T23:00:00+01:00"]);
        Assert.Contains("allow 'ci-writes-github-in-office-hours' via spiffe://example.org/ns/ci/*: does not apply: schedule does not match", night.Out, StringComparison.Ordinal);
        Assert.Contains("decision: DENY (no_rule_matched)", night.Out, StringComparison.Ordinal);
        Assert.Contains("would allow it with a different schedule", night.Out, StringComparison.Ordinal);

        var local = await RunAsync([.. request, "--at", "2026-03-07T23:00:00"]);
        Assert.Equal(2, local.Exit);
        Assert.Contains("is not a time with a UTC offset", local.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_shows_a_grant_that_would_open_a_rule_and_the_grant_opening_it()
    {
        var config = Example("approvals.yaml");
        const string runner = "spiffe://example.org/ns/ci/sa/runner";   // approvals.yaml's identity 'runner'
        var without = await RunAsync("explain", "--config", config, "--identity", "runner", "--method", "POST", "--path", "/deploy/releases");
        Assert.True(without.Exit == 0, without.Err);
        Assert.Contains("applies, but requires a live grant the caller does not hold", without.Out, StringComparison.Ordinal);
        Assert.Contains("decision: DENY (grant_required)", without.Out, StringComparison.Ordinal);
        Assert.Contains("a live grant for route 'deploy'", without.Out, StringComparison.Ordinal);

        var with = await RunAsync("explain", "--config", config, "--identity", runner, "--method", "POST", "--path", "/deploy/releases", "--grant", "deploy");
        Assert.Contains("decision: ALLOW (allowed)", with.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_decides_a_database_role_as_the_gateway_does()
    {
        var config = Example("postgres.yaml");
        var app = await RunAsync("explain", "--config", config, "--identity", "orders", "--route", "orders", "--method", "app");
        Assert.True(app.Exit == 0, app.Err);
        Assert.Contains("database 'orders' (given), decided as route 'postgres:orders'", app.Out, StringComparison.Ordinal);
        Assert.Contains("winning rule: 'orders-uses-its-database'", app.Out, StringComparison.Ordinal);

        var admin = await RunAsync("explain", "--config", config, "--identity", "orders", "--route", "orders", "--method", "postgres");
        Assert.Contains("decision: DENY (no_rule_matched)", admin.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_refuses_an_unknown_identity_with_a_suggestion()
    {
        var result = await RunAsync("explain", "--config", Example("gateway.yaml"), "--identity", "payment-api", "--path", "/github/x");
        Assert.Equal(2, result.Exit);
        Assert.Contains("'payment-api' is neither a SPIFFE ID nor a name under identities", result.Err, StringComparison.Ordinal);
        Assert.Contains("did you mean 'payments-api'?", result.Err, StringComparison.Ordinal);
    }

    /// <summary>The example case file beside a copy of gateway.yaml.</summary>
    private string CaseFile(string name)
    {
        var dir = Path.GetDirectoryName(Example("gateway.yaml"))!;
        var path = Path.Combine(dir, name);
        File.Copy(Path.Combine(Repository, "config", "policy-tests", "gateway.yaml"), path);
        return path;
    }

    [Fact]
    public async Task Test_passes_the_example_case_file()
    {
        var cases = CaseFile("cases.yaml");
        var result = await RunAsync("test", "--config", Path.Combine(Path.GetDirectoryName(cases)!, "gateway.yaml"), cases);
        Assert.True(result.Exit == 0, result.Out + result.Err);
        Assert.Contains("PASS payments reads GitHub repository data: allow by rule 'payments-reads-github'", result.Out, StringComparison.Ordinal);
        Assert.Contains("8 case(s): 8 passed, 0 failed", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_fails_on_a_mismatch_and_prints_a_diff()
    {
        var cases = CaseFile("cases.yaml");
        var text = await File.ReadAllTextAsync(cases);
        // The policy change a reviewer should catch: CI now expected to write at night.
        await File.WriteAllTextAsync(cases, text.Replace("""
                at: "2026-03-07T23:00:00+01:00"
                expect: deny
            """, """
                at: "2026-03-07T23:00:00+01:00"
                expect: allow
            """, StringComparison.Ordinal));
        var result = await RunAsync("test", "--config", Path.Combine(Path.GetDirectoryName(cases)!, "gateway.yaml"), cases);
        Assert.Equal(1, result.Exit);
        Assert.Contains("FAIL CI sets no commit status on Saturday night (cases.yaml:", result.Out, StringComparison.Ordinal);
        Assert.Contains("  - expected: allow (no_rule_matched)", result.Out, StringComparison.Ordinal);
        Assert.Contains("  + actual:   deny by no rule (no_rule_matched)", result.Out, StringComparison.Ordinal);
        Assert.Contains("would change it: rule 'ci-writes-github-in-office-hours' would allow it with a different schedule", result.Out, StringComparison.Ordinal);
        Assert.Contains("8 case(s): 7 passed, 1 failed", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Test_refuses_a_malformed_case_file_with_every_error()
    {
        var dir = Path.GetDirectoryName(Example("gateway.yaml"))!;
        var cases = Path.Combine(dir, "bad-cases.yaml");
        await File.WriteAllTextAsync(cases, """
            cases:
              - name: typo in a key
                identity: payments-api
                path: /github/repos/x
                expekt: allow
              - name: unknown rule and identity
                identity: payment-api
                path: /github/repos/x
                expect: maybe
                rule: payments-reads-githb
                route: githb
                at: tomorrow
            """);
        var result = await RunAsync("test", "--config", Path.Combine(dir, "gateway.yaml"), cases);
        Assert.Equal(2, result.Exit);
        Assert.Contains("bad-cases.yaml: 7 error(s):", result.Err, StringComparison.Ordinal);
        Assert.Contains("bad-cases.yaml:5: cases[0].expekt: 'expekt' is not a key of a case. Fix: did you mean 'expect'?", result.Err, StringComparison.Ordinal);
        Assert.Contains("cases[0].expect: is required", result.Err, StringComparison.Ordinal);
        Assert.Contains("bad-cases.yaml:7: cases[1].identity: 'payment-api' is neither a SPIFFE ID nor a name under identities. Fix: did you mean 'payments-api'?", result.Err, StringComparison.Ordinal);
        Assert.Contains("cases[1].expect: 'maybe' is not allow or deny", result.Err, StringComparison.Ordinal);
        Assert.Contains("cases[1].rule: the config has no rule 'payments-reads-githb'. Fix: did you mean 'payments-reads-github'?", result.Err, StringComparison.Ordinal);
        Assert.Contains("cases[1].route: 'githb' is neither a route under ReverseProxy.Routes nor a database of the config. Fix: did you mean 'github'?", result.Err, StringComparison.Ordinal);
        Assert.Contains("cases[1].at: 'tomorrow' is not a time with a UTC offset. Fix:", result.Err, StringComparison.Ordinal);

        await File.WriteAllTextAsync(cases, "cases: { name: not a list }\n");
        var notList = await RunAsync("test", "--config", Path.Combine(dir, "gateway.yaml"), cases);
        Assert.Equal(2, notList.Exit);
        Assert.Contains("cases: needs a list of cases", notList.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gateway.yaml")]
    [InlineData("approvals.yaml")]
    [InlineData("forward-proxy.yaml")]
    [InlineData("postgres.yaml")]
    [InlineData("mysql-gateway.yaml")]
    public async Task Validate_offline_passes_without_the_runtime_files_that_plain_validate_needs(string name)
    {
        var config = Example(name);
        var plain = await RunAsync("validate", "--config", config);
        Assert.Equal(1, plain.Exit);
        Assert.Contains("does not exist", plain.Err, StringComparison.Ordinal);

        var offline = await RunAsync("validate", "--offline", "--config", config);
        Assert.True(offline.Exit == 0, offline.Err);
        Assert.Contains("valid offline (certificate, key and secret files not checked)", offline.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_offline_still_reports_every_other_error()
    {
        var config = Example("gateway.yaml");
        await File.WriteAllTextAsync(config, (await File.ReadAllTextAsync(config))
            .Replace("routes: [billing]", "routes: [biling]", StringComparison.Ordinal)
            .Replace("provider: env", "provider: envv", StringComparison.Ordinal));
        var offline = await RunAsync("validate", "--offline", "--config", config);
        Assert.Equal(1, offline.Exit);
        Assert.Contains("names route 'biling'", offline.Err, StringComparison.Ordinal);
        Assert.Contains("credentials.maps.provider", offline.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", offline.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inventory_needs_no_certificate_files()
    {
        var result = await RunAsync("inventory", "--config", Example("gateway.yaml"));
        Assert.True(result.Exit == 0, result.Err);
        Assert.Contains("payments-reads-github", result.Out, StringComparison.Ordinal);
        Assert.Contains("access path(s)", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_command_of_a_config_repository_prints_a_secret()
    {
        var config = Example("gateway.yaml");
        var dir = Path.GetDirectoryName(config)!;
        Directory.CreateDirectory(Path.Combine(dir, "secrets"));
        const string canary = "canary-7f3a9c1e-policy-cli-secret";
        await File.WriteAllTextAsync(Path.Combine(dir, "secrets", "github-token"), canary);
        var cases = CaseFile("cases.yaml");
        var printed = new List<string>();
        foreach (var args in new[]
        {
            new[] { "validate", "--offline", "--config", config },
            ["explain", "--config", config, "--identity", "payments-api", "--path", "/github/repos/acme/shop"],
            ["explain", "--config", config, "--identity", "payments-api", "--method", "DELETE", "--path", "/github/repos/acme/shop"],
            ["test", "--config", config, cases],
            ["inventory", "--config", config],
            ["inventory", "--config", config, "--reconcile", "--format", "json"],
        })
        {
            var result = await RunAsync(args);
            printed.Add(result.Out + result.Err);
        }
        Assert.All(printed, text => Assert.DoesNotContain(canary, text, StringComparison.Ordinal));
        Assert.Contains(printed, text => text.Contains("payments-reads-github", StringComparison.Ordinal));
    }

    public void Dispose() => _pki.Dispose();
}
