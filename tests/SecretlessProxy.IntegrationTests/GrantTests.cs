using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using SecretlessProxy.Audit;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Time-boxed grants end to end: a rule that requires a grant denies until one is approved through the admin API,
/// allows while it is live, and closes again when it expires or is revoked, revoking the credentials issued under
/// it. Grants survive a restart.
/// </summary>
public sealed class GrantTests : IDisposable
{
    private const string Runner = "spiffe://example.org/ns/ci/sa/runner";

    private readonly TestPki _pki = new();

    private string Config(Uri upstream)
    {
        var key = Path.Combine(_pki.Directory, "deploy.key");
        if (!File.Exists(key))
        {
            using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            File.WriteAllText(key, ec.ExportPkcs8PrivateKeyPem());
        }
        return ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: "  deploy-token: { provider: jwt, signingKey: deploy.key, issuer: https://secretless.test, audience: deploy-api }",
            extraPolicies: $"  - name: ci-deploys\n    allow: [\"{Runner}\"]\n    routes: [deploy]\n    requireGrant: true",
            extraRoutes: "    deploy: { ClusterId: upstream, Match: { Path: \"/deploy/{**rest}\" }, Metadata: { Credential: deploy-token } }") +
            "\ngrants: { maxDuration: \"02:00:00\" }\n";
    }

    private static async Task<JsonElement> CallAsync(ProxyUnderTest proxy, HttpClient runner, string path, HttpStatusCode expected)
    {
        using var request = TraceParent.Get(new Uri(proxy.ProxyUri, path), out var traceId);
        using var response = await runner.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        return await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("traceId").GetString() == traceId);
    }

    [Fact]
    public async Task A_grant_opens_access_and_its_expiry_closes_it_and_revokes_its_credentials()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var admin = new AdminClient(proxy);
        using var runner = _pki.Client(_pki.Svid(Runner));

        var before = await CallAsync(proxy, runner, "/deploy/v1", HttpStatusCode.Forbidden);
        Assert.Equal("grant_required", before.GetProperty("reason").GetString());
        Assert.Equal("ci-deploys", before.GetProperty("rule").GetString());

        var (status, grant) = await admin.PostAsync("/grants", new { identity = Runner, route = "deploy", duration = "5s", approver = "alice", reason = "CHG-1234 release 2.4" });
        Assert.Equal(201, status);
        var id = grant.GetProperty("id").GetString()!;
        Assert.True(grant.GetProperty("live").GetBoolean());
        Assert.Equal("alice", grant.GetProperty("approver").GetString());
        var approved = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantApproved);
        Assert.Equal(["time", "kind", "grant", "identity", "route", "credential", "from", "until", "approver", "reason", "createdBy"], approved.EnumerateObject().Select(p => p.Name));
        Assert.Equal(id, approved.GetProperty("grant").GetString());
        Assert.Equal(Runner, approved.GetProperty("identity").GetString());
        Assert.Equal("deploy", approved.GetProperty("route").GetString());
        Assert.Equal("CHG-1234 release 2.4", approved.GetProperty("reason").GetString());
        Assert.Equal(TimeSpan.FromSeconds(5), approved.GetProperty("until").GetDateTimeOffset() - approved.GetProperty("from").GetDateTimeOffset());

        var during = await CallAsync(proxy, runner, "/deploy/v1", HttpStatusCode.OK);
        Assert.Equal("allow", during.GetProperty("outcome").GetString());
        Assert.Equal("ci-deploys", during.GetProperty("rule").GetString());
        Assert.Equal("fresh", during.GetProperty("credentialSource").GetString());
        Assert.Equal("l1", (await CallAsync(proxy, runner, "/deploy/v2", HttpStatusCode.OK)).GetProperty("credentialSource").GetString());
        Assert.Equal(1, Scrape.Value(await Scrape.MetricsAsync(proxy), "secretless_active_grants"));
        var (_, list) = await admin.GetAsync("/grants");
        Assert.Equal(id, Assert.Single(list.GetProperty("grants").EnumerateArray()).GetProperty("id").GetString());

        // The window ends: the trail records it with the revoked credential, and access is closed again.
        var expired = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantExpired);
        Assert.Equal(id, expired.GetProperty("grant").GetString());
        Assert.Equal(["deploy-token"], expired.GetProperty("revokedCredentials").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(JsonValueKind.Null, expired.GetProperty("revokedBy").ValueKind);
        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialRevoked);
        Assert.Equal("deploy-token", revoked.GetProperty("credential").GetString());
        Assert.Equal(Runner, revoked.GetProperty("workload").GetString());
        Assert.True(revoked.GetProperty("wasCached").GetBoolean());

        var after = await CallAsync(proxy, runner, "/deploy/v3", HttpStatusCode.Forbidden);
        Assert.Equal("grant_required", after.GetProperty("reason").GetString());
        Assert.Empty((await admin.GetAsync("/grants")).Body.GetProperty("grants").EnumerateArray());
        Assert.Equal(0, Scrape.Value(await Scrape.MetricsAsync(proxy), "secretless_active_grants"));
        Assert.Equal(2, Scrape.Value(await Scrape.MetricsAsync(proxy), "secretless_policy_decisions_total", "rule=\"ci-deploys\",outcome=\"deny\""));
    }

    [Fact]
    public async Task Grants_survive_a_restart_and_can_be_revoked_early()
    {
        string id;
        await using (var first = await ProxyUnderTest.StartAsync(_pki, Config))
        {
            using var admin = new AdminClient(first);
            var (status, grant) = await admin.PostAsync("/grants", new { identity = Runner, credential = "deploy-token", duration = "1h", approver = "bob", reason = "INC-77" });
            Assert.Equal(201, status);
            id = grant.GetProperty("id").GetString()!;
            Assert.Equal(JsonValueKind.Null, grant.GetProperty("route").ValueKind);
        }
        Assert.True(File.Exists(Path.Combine(_pki.Directory, "grants.json")));

        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var again = new AdminClient(proxy);
        using var runner = _pki.Client(_pki.Svid(Runner));
        var (found, kept) = await again.GetAsync("/grants/" + id);
        Assert.Equal(200, found);
        Assert.Equal("INC-77", kept.GetProperty("reason").GetString());
        // A grant for a credential opens every route that injects it.
        await CallAsync(proxy, runner, "/deploy/after-restart", HttpStatusCode.OK);

        var (deleted, answer) = await again.SendAsync(HttpMethod.Delete, "/grants/" + id);
        Assert.Equal(200, deleted);
        Assert.True(answer.GetProperty("revoked").GetBoolean());
        Assert.Equal(["deploy-token"], answer.GetProperty("revokedCredentials").EnumerateArray().Select(e => e.GetString()));
        var ended = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantRevoked);
        Assert.Equal("unix:uid=0", ended.GetProperty("revokedBy").GetString());
        Assert.Equal("bob", ended.GetProperty("approver").GetString());
        await CallAsync(proxy, runner, "/deploy/after-revoke", HttpStatusCode.Forbidden);
        Assert.Equal(404, (await again.SendAsync(HttpMethod.Delete, "/grants/" + id)).Status);
    }

    [Fact]
    public async Task Invalid_grant_requests_are_refused_with_every_problem_named()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var admin = new AdminClient(proxy);
        var (status, problem) = await admin.PostAsync("/grants", new { identity = "spiffe://example.org/ns/ci/*", route = "nope", duration = "3h" });
        Assert.Equal(400, status);
        Assert.Equal("invalid_grant", problem.GetProperty("reason").GetString());
        var detail = problem.GetProperty("detail").GetString()!;
        foreach (var expected in new[] { "identity:", "route: no route 'nope'", "approver: required", "reason: required", "duration: at most 02:00:00" })
        {
            Assert.Contains(expected, detail, StringComparison.Ordinal);
        }
        Assert.Equal(400, (await admin.SendAsync(HttpMethod.Post, "/grants", new System.Text.Json.Nodes.JsonArray())).Status);
        Assert.Equal(405, (await admin.SendAsync(HttpMethod.Put, "/grants")).Status);
        Assert.Empty((await admin.GetAsync("/grants")).Body.GetProperty("grants").EnumerateArray());
    }

    [Theory]
    [InlineData("9999-12-31T23:00:00Z", "2h", null)]
    [InlineData("9999-12-31T23:59:59Z", "1m", null)]
    [InlineData("0001-01-01T00:00:00Z", "1h", null)]
    [InlineData(null, null, "9999-12-31T23:59:59Z")]
    [InlineData("2026-12-01T00:00:00Z", "3650000d", null)]
    public async Task Times_at_the_ends_of_the_calendar_are_a_400_not_a_crash(string? from, string? duration, string? until)
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var admin = new AdminClient(proxy);
        var (status, problem) = await admin.PostAsync("/grants", new { identity = Runner, route = "deploy", from, duration, until, approver = "alice", reason = "CHG-1" });
        Assert.Equal(400, status);
        Assert.Equal("invalid_grant", problem.GetProperty("reason").GetString());
        Assert.DoesNotContain("Unhandled", proxy.Logs.Text, StringComparison.Ordinal);
        Assert.Empty((await admin.GetAsync("/grants")).Body.GetProperty("grants").EnumerateArray());
    }

    [Fact]
    public async Task A_chunked_admin_body_past_64_KiB_is_refused_without_being_read_whole()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var body = Path.Combine(_pki.Directory, "big.json");
        await File.WriteAllTextAsync(body, "{\"reason\":\"" + new string('x', 2 * 1024 * 1024) + "\"}");
        var result = await Curl.RunAsync("--unix-socket", proxy.Host.GetSocketPath("admin-socket"), "-H", "Transfer-Encoding: chunked", "-H", "Content-Type: application/json", "--data-binary", "@" + body,
            "http://localhost/grants");
        Assert.Equal(413, result.Status);
        Assert.Contains("\"reason\":\"payload_too_large\"", result.Body, StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
