using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Audit;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Approvals a security team can trust (issue 16, section 1), end to end: a workload asks for a grant with its own
/// identity over its own listener; only an authenticated approver listed by the rule answers, never the requester
/// (four eyes); approvers sign in with an admin SVID, the admin socket, or an ID token from the real oidc-provider;
/// an approval becomes a real grant that opens the route, the grantee ends it early and its token is revoked at the
/// issuer; unanswered requests expire; a webhook announces it all, retried after a 500, with no secret in it.
/// </summary>
public sealed class ApprovalTests : IDisposable
{
    private const string Runner = "spiffe://example.org/ns/ci/sa/runner";
    private const string Sre = "spiffe://example.org/ns/sre/sa/alice";
    private const string ExchangeSecret = "canary-approvals-exchange-5fa1c2";
    private const string UiSecret = "canary-approvals-ui-77c0d9";

    private readonly TestPki _pki = new();

    private static object[] Clients() =>
    [
        new
        {
            client_id = "exchanger", client_secret = ExchangeSecret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
            grant_types = new[] { "urn:ietf:params:oauth:grant-type:token-exchange" }, token_endpoint_auth_method = "client_secret_basic",
        },
        new
        {
            client_id = "approvals-ui", client_secret = UiSecret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
            grant_types = new[] { OidcServer.IdTokenGrant }, token_endpoint_auth_method = "client_secret_basic",
        },
    ];

    /// <summary>
    /// The default config plus: an mTLS admin listener (the SRE, payments and the runner itself are admins there), route
    /// <c>deploy</c> whose rule requires a grant and names approvers, and <c>approvals</c>. With an OIDC server the route
    /// injects a token-exchange token for the caller and group <c>sre</c> may approve with an ID token.
    /// </summary>
    private string Config(Uri upstream, int adminPort, OidcServer? oidc, Uri? webhook)
    {
        var key = Path.Combine(_pki.Directory, "subject.key");
        if (!File.Exists(key))
        {
            using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            File.WriteAllText(key, ec.ExportPkcs8PrivateKeyPem());
            File.WriteAllText(Path.Combine(_pki.Directory, "exchange-secret"), ExchangeSecret);
        }
        var credential = oidc is null ? "github"
            : "exchanged";
        var credentials = oidc is null ? ""
            : $"  exchanged:\n    provider: oauth2-token-exchange\n    issuer: {oidc.Issuer}\n    clientId: exchanger\n    clientSecretFile: exchange-secret\n    subjectSigningKey: subject.key\n    audience: deploy-api";
        var approvers = "[\"spiffe://example.org/ns/sre/*\", { uid: 0 }" + (oidc is null ? "]" : ", { group: sre }]");
        var approvals = "approvals:\n  requestTtl: 10m\n"
            + (oidc is null ? "" : $"  oidc: {{ issuer: \"{oidc.Issuer}\", audience: approvals-ui, nameClaim: name }}\n")
            + (webhook is null ? "" : $"  webhook: {{ url: \"{webhook}\", retries: 3, timeout: 2s }}\n");
        return ProxyUnderTest.DefaultConfig(upstream,
                extraCredentials: credentials,
                extraPolicies: $"  - name: ci-deploys\n    allow: [\"{Runner}\"]\n    routes: [deploy]\n    requireGrant: true\n    approvers: {approvers}",
                extraRoutes: $"    deploy: {{ ClusterId: upstream, Match: {{ Path: \"/deploy/{{**rest}}\" }}, Metadata: {{ Credential: {credential} }} }}")
            .Replace("url: http://127.0.0.1:0", $"url: http://127.0.0.1:{adminPort}", StringComparison.Ordinal)
            .Replace("listeners:\n", $"listeners:\n  - name: admin-mtls\n    role: admin\n    url: https://127.0.0.1:0\n    certificate: {{ cert: server.pem, key: server.key }}\n    trustBundles: {{ example.org: example.org.pem }}\n    allow: [\"spiffe://example.org/ns/sre/*\", \"spiffe://example.org/ns/payments/sa/api\", \"{Runner}\"]\n", StringComparison.Ordinal)
            + "\ngrants: { maxDuration: \"02:00:00\" }\n" + approvals;
    }

    private static async Task<(int Status, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, Uri url, object? body = null, string? bearer = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static string Reason(JsonElement problem) => problem.GetProperty("reason").GetString()!;

    [Fact]
    public async Task Four_eyes_and_the_rules_approvers_decide_who_may_answer_a_request()
    {
        var adminPort = LoopbackPorts.Next();
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, Clients(), subjectJwks: new Uri($"http://127.0.0.1:{adminPort}/.well-known/jwks.json"));
        await using var webhook = await WebhookReceiver.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, adminPort, oidc, webhook.Url));
        using var runner = _pki.Client(_pki.Svid(Runner));
        using var payments = proxy.Client();
        using var sre = _pki.Client(_pki.Svid(Sre));
        using var plain = new HttpClient();
        var adminMtls = proxy.Host.GetListenerUri("admin-mtls");

        var (created, request) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, "/grants/requests"),
            new { route = "deploy", duration = "30m", reason = "CHG-1 <!channel> & co" });
        Assert.True(created == 201, request.ToString());
        var id = request.GetProperty("id").GetString()!;
        Assert.Equal("pending", request.GetProperty("status").GetString());
        Assert.Equal(Runner, request.GetProperty("identity").GetString());
        Assert.Equal(["ci-deploys"], request.GetProperty("rules").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(TimeSpan.FromMinutes(10), request.GetProperty("expiresAt").GetDateTimeOffset() - request.GetProperty("createdAt").GetDateTimeOffset());
        var approve = new Uri(adminMtls, $"/grants/requests/{id}/approve");

        // The requester is an admin on the mTLS admin listener, but never approves its own request.
        var (selfStatus, self) = await SendAsync(runner, HttpMethod.Post, approve);
        Assert.Equal(403, selfStatus);
        Assert.Equal("self_approval", Reason(self));
        // An admin the rule does not list, and an ID token whose groups the rule does not list.
        var (unlistedStatus, unlisted) = await SendAsync(payments, HttpMethod.Post, approve);
        Assert.Equal(403, unlistedStatus);
        Assert.Equal("not_an_approver", Reason(unlisted));
        var developer = await oidc.IdTokenAsync("approvals-ui", UiSecret, "bob", name: "bob@example.org", groups: ["dev"]);
        var (devStatus, dev) = await SendAsync(plain, HttpMethod.Post, new Uri(proxy.AdminUri, $"/grants/requests/{id}/approve"), bearer: developer);
        Assert.Equal(403, devStatus);
        Assert.Equal("not_an_approver", Reason(dev));
        Assert.Contains("bob@example.org", dev.GetProperty("detail").GetString(), StringComparison.Ordinal);
        // Tokens that do not verify, and the open loopback admin listener without a token.
        var expired = await oidc.IdTokenAsync("approvals-ui", UiSecret, "carol", name: "carol@example.org", groups: ["sre"], expiresIn: -120);
        foreach (var bad in new[] { "not.a.token", developer[..^4] + "AAAA", expired })
        {
            var (badStatus, refused) = await SendAsync(plain, HttpMethod.Post, new Uri(proxy.AdminUri, $"/grants/requests/{id}/approve"), bearer: bad);
            Assert.Equal(403, badStatus);
            Assert.Equal("approver_token_invalid", Reason(refused));
        }
        Assert.Equal("admin_authentication_required", Reason((await SendAsync(plain, HttpMethod.Post, new Uri(proxy.AdminUri, $"/grants/requests/{id}/approve"))).Body));
        Assert.Equal("unknown_grant_request", Reason((await SendAsync(sre, HttpMethod.Post, new Uri(adminMtls, "/grants/requests/r-0000/approve"))).Body));

        // A listed approver denies it with a reason; the request is closed.
        var (deniedStatus, denied) = await SendAsync(sre, HttpMethod.Post, new Uri(adminMtls, $"/grants/requests/{id}/deny"), new { reason = "not in the change window" });
        Assert.True(deniedStatus == 200, denied.ToString());
        Assert.Equal("denied", denied.GetProperty("status").GetString());
        Assert.Equal(Sre, denied.GetProperty("decidedBy").GetString());
        var (closedStatus, closed) = await SendAsync(sre, HttpMethod.Post, approve);
        Assert.Equal(409, closedStatus);
        Assert.Equal("grant_request_closed", Reason(closed));

        // The requester reads its answer over its own listener; another workload cannot see the request.
        var (_, mine) = await SendAsync(runner, HttpMethod.Get, new Uri(proxy.ProxyUri, $"/grants/requests/{id}"));
        Assert.Equal("denied", mine.GetProperty("status").GetString());
        Assert.Equal("not in the change window", mine.GetProperty("decisionReason").GetString());
        Assert.Equal("unknown_grant_request", Reason((await SendAsync(payments, HttpMethod.Get, new Uri(proxy.ProxyUri, $"/grants/requests/{id}"))).Body));
        using var still = await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v1"));
        Assert.Equal(HttpStatusCode.Forbidden, still.StatusCode);
        Assert.Contains("grant_required", await still.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var requested = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantRequested);
        Assert.Equal(id, requested.GetProperty("request").GetString());
        Assert.Equal(Runner, requested.GetProperty("identity").GetString());
        var deniedEvent = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantRequestDenied);
        Assert.Equal(Sre, deniedEvent.GetProperty("approver").GetString());
        Assert.Equal("x509-svid", deniedEvent.GetProperty("approverKind").GetString());
        Assert.Empty(proxy.Decisions.Events(AuditEvents.GrantApproved));

        // The webhook announced the request and the denial, with the reason escaped for Slack.
        await Eventually.Until(() => webhook.Received.Count >= 2, "the webhook received the request and the denial", lastSeen: () => webhook.AllBodies);
        var messages = webhook.Received.Select(r => JsonDocument.Parse(r.Body).RootElement).ToList();
        Assert.Equal([AuditEvents.GrantRequested, AuditEvents.GrantRequestDenied], messages.Select(m => m.GetProperty("event").GetString()));
        Assert.Contains(id, messages[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Contains("&lt;!channel&gt; &amp; co", messages[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text, webhook.AllBodies })
        {
            Assert.DoesNotContain(developer, text, StringComparison.Ordinal);
            Assert.DoesNotContain(expired, text, StringComparison.Ordinal);
            Assert.DoesNotContain(UiSecret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(ExchangeSecret, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task An_approved_request_opens_the_route_and_ending_the_grant_early_revokes_its_token_at_the_issuer()
    {
        var adminPort = LoopbackPorts.Next();
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, Clients(), subjectJwks: new Uri($"http://127.0.0.1:{adminPort}/.well-known/jwks.json"));
        // The first delivery fails with a 500: the webhook tries again.
        await using var webhook = await WebhookReceiver.StartAsync(failFirst: 1);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, adminPort, oidc, webhook.Url));
        using var runner = _pki.Client(_pki.Svid(Runner));
        using var plain = new HttpClient();

        using (var before = await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v1")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, before.StatusCode);
        }
        var (created, request) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, "/grants/requests"), new { route = "deploy", duration = "30m", reason = "CHG-1234 release 2.4" });
        Assert.True(created == 201, request.ToString());
        var id = request.GetProperty("id").GetString()!;

        // Retried after the 500, then delivered: the same message twice.
        await Eventually.Until(() => webhook.Received.Count >= 2, "the webhook's second attempt", lastSeen: () => webhook.AllBodies);
        var attempts = webhook.Received.Take(2).ToList();
        Assert.Equal([500, 200], attempts.Select(a => a.Status));
        Assert.Equal(attempts[0].Body, attempts[1].Body);
        Assert.Equal(AuditEvents.GrantRequested, JsonDocument.Parse(attempts[1].Body).RootElement.GetProperty("event").GetString());

        // Alice signs in at the OIDC provider; her ID token approves on the plain loopback admin listener.
        var idToken = await oidc.IdTokenAsync("approvals-ui", UiSecret, "alice", name: "alice@example.org", groups: ["sre", "oncall"]);
        var (approvedStatus, approved) = await SendAsync(plain, HttpMethod.Post, new Uri(proxy.AdminUri, $"/grants/requests/{id}/approve"), new { note = "go" }, idToken);
        Assert.True(approvedStatus == 200, approved.ToString() + "\n" + proxy.Logs.Text);
        Assert.Equal("approved", approved.GetProperty("status").GetString());
        var grant = approved.GetProperty("grant");
        var grantId = grant.GetProperty("id").GetString()!;
        Assert.Equal("alice@example.org", grant.GetProperty("approver").GetString());
        Assert.Equal("alice@example.org", grant.GetProperty("createdBy").GetString());
        Assert.Equal(Runner, grant.GetProperty("identity").GetString());
        var (_, mine) = await SendAsync(runner, HttpMethod.Get, new Uri(proxy.ProxyUri, $"/grants/requests/{id}"));
        Assert.Equal("approved", mine.GetProperty("status").GetString());
        Assert.Equal(grantId, mine.GetProperty("grant").GetString());
        var approvedEvent = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantApproved);
        Assert.Equal("alice@example.org", approvedEvent.GetProperty("approver").GetString());
        var link = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantRequestApproved);
        Assert.Equal(grantId, link.GetProperty("grant").GetString());
        Assert.Equal("oidc", link.GetProperty("approverKind").GetString());

        // The request now goes through the proxy with a token exchanged for the runner.
        using (var during = await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v1")))
        {
            Assert.True(during.StatusCode == HttpStatusCode.OK, await during.Content.ReadAsStringAsync() + "\n" + oidc.Output);
        }
        var token = proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/deploy/v1").Headers["Authorization"]["Bearer ".Length..];
        Assert.True(await oidc.IsActiveAsync(token, "exchanger", ExchangeSecret));
        var (_, own) = await SendAsync(runner, HttpMethod.Get, new Uri(proxy.ProxyUri, "/grants"));
        Assert.Equal(grantId, Assert.Single(own.GetProperty("grants").EnumerateArray()).GetProperty("id").GetString());

        // Task done: the runner ends its own grant; the token issued under it is revoked at the issuer.
        var (endedStatus, ended) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, $"/grants/{grantId}/end"));
        Assert.True(endedStatus == 200, ended.ToString());
        Assert.Equal(["exchanged"], ended.GetProperty("revokedCredentials").EnumerateArray().Select(e => e.GetString()));
        var atIssuer = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialRevokedAtIssuer);
        Assert.Equal(Runner, atIssuer.GetProperty("workload").GetString());
        Assert.False(await oidc.IsActiveAsync(token, "exchanger", ExchangeSecret));
        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantRevoked);
        Assert.Equal(Runner, revoked.GetProperty("revokedBy").GetString());
        using (var after = await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v2")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, after.StatusCode);
        }
        Assert.Equal("unknown_grant", Reason((await SendAsync(runner, HttpMethod.Delete, new Uri(proxy.ProxyUri, $"/grants/{grantId}"))).Body));

        await Eventually.Until(() => webhook.Received.Count(r => r.Status == 200) >= 2, "the webhook announced the approval", lastSeen: () => webhook.AllBodies);
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text, webhook.AllBodies })
        {
            Assert.DoesNotContain(idToken, text, StringComparison.Ordinal);
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(UiSecret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(ExchangeSecret, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_request_nobody_answers_expires_and_can_no_longer_be_approved()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var adminPort = LoopbackPorts.Next();
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, adminPort, null, null), time: time);
        using var runner = _pki.Client(_pki.Svid(Runner));
        using var admin = new AdminClient(proxy);

        var (created, request) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, "/grants/requests"), new { route = "deploy", duration = "15m", reason = "INC-9" });
        Assert.True(created == 201, request.ToString());
        var id = request.GetProperty("id").GetString()!;
        // A bad request names every problem; a route no requireGrant rule covers for the caller cannot be requested.
        var (badStatus, bad) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, "/grants/requests"), new { route = "nope", duration = "3h" });
        Assert.Equal(400, badStatus);
        Assert.Equal("invalid_grant_request", Reason(bad));
        Assert.Contains("route: no route 'nope'", bad.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("reason: required", bad.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var (openStatus, open) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, "/grants/requests"), new { route = "allowed", duration = "15m", reason = "INC-9" });
        Assert.Equal(403, openStatus);
        Assert.Equal("grant_not_requestable", Reason(open));

        time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(2));
        var expired = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.GrantRequestExpired);
        Assert.Equal(id, expired.GetProperty("request").GetString());
        var (goneStatus, gone) = await admin.PostAsync($"/grants/requests/{id}/approve", new { note = "late" });
        Assert.Equal(410, goneStatus);
        Assert.Equal("grant_request_expired", Reason(gone));
        var (_, mine) = await SendAsync(runner, HttpMethod.Get, new Uri(proxy.ProxyUri, $"/grants/requests/{id}"));
        Assert.Equal("expired", mine.GetProperty("status").GetString());
        Assert.Empty((await admin.GetAsync("/grants")).Body.GetProperty("grants").EnumerateArray());

        // A fresh request, approved on the admin socket by uid 0 (a listed approver), opens the route.
        var (_, again) = await SendAsync(runner, HttpMethod.Post, new Uri(proxy.ProxyUri, "/grants/requests"), new { route = "deploy", duration = "15m", reason = "INC-9 again" });
        var (okStatus, ok) = await admin.PostAsync($"/grants/requests/{again.GetProperty("id").GetString()}/approve", new { note = "ok" });
        Assert.True(okStatus == 200, ok.ToString());
        Assert.Equal("unix:uid=0", ok.GetProperty("grant").GetProperty("approver").GetString());
        using var through = await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/x"));
        Assert.Equal(HttpStatusCode.OK, through.StatusCode);
    }

    public void Dispose() => _pki.Dispose();
}
