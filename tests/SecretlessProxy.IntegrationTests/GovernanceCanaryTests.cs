using System.Net;
using System.Security.Cryptography;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Canary secrets (a stored token, a signed claim, a header value in a transform, a value pasted into a wrong key)
/// driven through allow, deny, refresh, revoke, grants, a reload and a refused reload: none may appear in the audit
/// file, the audit stdout, the logs, /metrics, /inventory, /config or /grants.
/// </summary>
public sealed class GovernanceCanaryTests : IDisposable
{
    private const string ClaimCanary = "canary-claim-61d0b7e3aa";
    private const string HeaderCanary = "canary-header-0f9c44d1be";
    private const string PastedCanary = "canary-pasted-7a2e90c5d1";

    private readonly TestPki _pki = new();

    private string Config(Uri upstream, string sink)
    {
        var key = Path.Combine(_pki.Directory, "jwt.key");
        if (!File.Exists(key))
        {
            using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            File.WriteAllText(key, ec.ExportPkcs8PrivateKeyPem());
        }
        return ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: $"  minted: {{ provider: jwt, signingKey: jwt.key, issuer: https://secretless.test, audience: api, ttl: \"00:00:10\", refreshFraction: 0.1, claims: {{ team: {ClaimCanary} }} }}",
            extraPolicies: "  - name: mints\n    allow: [payments]\n    routes: [minted]\n    requireGrant: true",
            extraRoutes: "    minted:\n      ClusterId: upstream\n      Match: { Path: \"/minted/{**rest}\" }\n      Metadata: { Credential: minted }\n" +
                         $"      Transforms:\n        - RequestHeader: X-Static-Key\n          Set: {HeaderCanary}\n") + "\n" + sink + "\n";
    }

    [Fact]
    public async Task Canaries_never_reach_audit_metrics_inventory_config_or_grants()
    {
        const string FileSink = "decisionLog: { sink: file, path: audit.jsonl }";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, FileSink));
        using var admin = new AdminClient(proxy);
        using var client = proxy.Client();
        var answers = new List<string>();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/a"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri(proxy.ProxyUri, "/minted/before-grant"))).StatusCode);
        var (created, grant) = await admin.PostAsync("/grants", new { identity = TestPki.PaymentsId, route = "minted", duration = "10m", approver = "dana", reason = "CHG-5" });
        Assert.Equal(201, created);
        // Past the refresh point of the 10 s token (1 s) the calls also refresh it.
        var i = 0;
        await Eventually.Until(async () =>
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/minted/{i++}"))).StatusCode);
            return i >= 8 && AuditFile().Contains("credential.refreshed", StringComparison.Ordinal);
        }, "a call past the refresh point refreshes 'minted'");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri(proxy.ProxyUri, "/denied/a"))).StatusCode);
        Assert.Equal(200, (await admin.SendAsync(HttpMethod.Post, "/credentials/github/revoke")).Status);
        answers.Add((await admin.GetAsync("/grants")).Body.GetRawText());
        Assert.Equal(200, (await admin.SendAsync(HttpMethod.Delete, "/grants/" + grant.GetProperty("id").GetString())).Status);
        Assert.False(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, FileSink).Replace("pollInterval:", $"tokn: {PastedCanary}\n    pollInterval:", StringComparison.Ordinal)));
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, "decisionLog: { sink: stdout }")));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/b"))).StatusCode);
        await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision");
        answers.Add(await Scrape.MetricsAsync(proxy));
        answers.Add((await admin.GetAsync("/inventory")).Body.GetRawText());
        answers.Add((await admin.GetAsync("/config")).Body.GetRawText());

        // The secrets did reach the upstream, so the scan is meaningful...
        Assert.Contains(proxy.Upstream.Requests, r => r.Headers.GetValueOrDefault("X-Static-Key") == HeaderCanary);
        Assert.Contains(proxy.Upstream.Requests, r => r.Headers.GetValueOrDefault("Authorization") == "Bearer " + ProxyUnderTest.Canary);
        var auditFile = AuditFile();
        foreach (var kind in new[] { "\"decision\"", "credential.issued", "credential.refreshed", "credential.revoked", "grant.approved", "grant.revoked", "config.loaded", "config.refused" })
        {
            Assert.Contains(kind, auditFile, StringComparison.Ordinal);
        }
        // The reload that switched the sink to stdout is recorded there.
        Assert.Contains("config.reloaded", proxy.Decisions.Text, StringComparison.Ordinal);
        // ...and nowhere else.
        var places = new Dictionary<string, string>
        {
            ["audit file"] = auditFile,
            ["audit stdout"] = proxy.Decisions.Text,
            ["logs"] = proxy.Logs.Text,
            ["admin answers"] = string.Join("\n", answers),
        };
        foreach (var canary in new[] { ProxyUnderTest.Canary, ClaimCanary, HeaderCanary, PastedCanary })
        {
            foreach (var (place, text) in places)
            {
                Assert.False(text.Contains(canary, StringComparison.Ordinal), $"{canary} leaked into {place}");
            }
        }
        Assert.Contains("tokn", auditFile, StringComparison.Ordinal);
    }

    /// <summary>The audit file as it is now (the proxy may be writing to it).</summary>
    private string AuditFile()
    {
        var path = Path.Combine(_pki.Directory, "audit.jsonl");
        if (!File.Exists(path))
        {
            return "";
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public void Dispose() => _pki.Dispose();
}
