using System.Net;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Edits to the config file (and to the files it names) take effect live; a broken edit is refused.</summary>
public sealed class HotReloadTests : IDisposable
{
    private readonly TestPki _pki = new();

    [Fact]
    public async Task Added_route_serves_after_the_edit()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(proxy.ProxyUri, "/reports/q1"))).StatusCode);

        var applied = await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address,
            extraPolicies: "  - name: payments-reads-reports\n    allow: [payments]\n    routes: [reports]\n    methods: [GET]",
            extraRoutes: "    reports:\n      ClusterId: upstream\n      Match: { Path: \"/reports/{**rest}\" }\n      Metadata: { Credential: github }"));
        Assert.True(applied, proxy.Logs.Text);

        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/reports/q1"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, Assert.Single(proxy.Upstream.Requests, r => r.PathAndQuery == "/reports/q1").Headers["Authorization"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.PostAsync(new Uri(proxy.ProxyUri, "/reports/q1"), null)).StatusCode);
    }

    [Fact]
    public async Task Removed_policy_denies_on_the_next_call_even_on_an_open_connection()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/before"))).StatusCode);

        var withoutPolicy = ProxyUnderTest.DefaultConfig(proxy.Upstream.Address)
            .Replace("  - name: payments-uses-allowed\n    allow: [payments]\n    routes: [allowed]\n", "", StringComparison.Ordinal);
        Assert.DoesNotContain("payments-uses-allowed", withoutPolicy, StringComparison.Ordinal);
        Assert.True(await proxy.RewriteConfigAsync(withoutPolicy), proxy.Logs.Text);

        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/after"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.DoesNotContain(proxy.Upstream.Requests, r => r.PathAndQuery == "/allowed/after");
    }

    [Fact]
    public async Task Broken_edit_is_refused_with_its_errors_and_the_last_good_config_keeps_serving()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        var broken = ProxyUnderTest.DefaultConfig(proxy.Upstream.Address)
            .Replace("provider: file", "provider: vault-typo", StringComparison.Ordinal)
            .Replace("allow: [payments]", "allow: [nobody-defined]", StringComparison.Ordinal);
        Assert.False(await proxy.RewriteConfigAsync(broken));

        var refusal = Assert.Single(proxy.Logs.Lines, l => l.Contains("[1003]", StringComparison.Ordinal));
        Assert.Contains("credentials.github.provider: 'vault-typo' is not a known credential provider", refusal, StringComparison.Ordinal);
        Assert.Contains("policies[0].allow[0]: 'nobody-defined' is not a defined identity", refusal, StringComparison.Ordinal);
        Assert.Equal(2, proxy.Host.Config.LastRefusal.Count);

        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/still"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        // Garbage that is not even YAML is refused the same way.
        Assert.False(await proxy.RewriteConfigAsync("listeners: [\n  { name: \"unterminated"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/still2"))).StatusCode);

        // And a fixed file is picked up again.
        Assert.True(await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address) + "\n# fixed\n"));
        Assert.Empty(proxy.Host.Config.LastRefusal);
    }

    [Fact]
    public async Task Changed_secret_file_is_injected_without_a_restart()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, token: "first-token");
        using var client = proxy.Client();
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/one"));
        await File.WriteAllTextAsync(proxy.TokenPath, "second-token-longer\n");
        string? seen = null;
        var i = 0;
        await Eventually.Until(async () =>
        {
            var path = $"/allowed/two-{i++}";
            await client.GetAsync(new Uri(proxy.ProxyUri, path));
            seen = proxy.Upstream.Requests.Single(r => r.PathAndQuery == path).Headers["Authorization"];
            return seen == "Bearer second-token-longer";
        }, "the changed secret file is injected", lastSeen: () => $"last injected: {seen}");
        Assert.Equal("Bearer first-token", proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/one").Headers["Authorization"]);
        Assert.Equal("Bearer second-token-longer", seen);
    }

    [Fact]
    public async Task Trust_bundle_file_change_applies_to_new_connections()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        // other.org's bundle holds other.org's CA: an SVID for other.org signed by the unknown CA is refused...
        var svid = _pki.UnknownCa.IssueSvid("spiffe://other.org/ns/x", TimeSpan.FromHours(1));
        using (var client = _pki.Client(svid))
        {
            var refused = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("chain_untrusted", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString());
        }
        // ...until the bundle file is replaced with the unknown CA.
        var generation = proxy.Host.Config.Generation;
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "other.org.pem"), _pki.UnknownCa.Certificate.ExportCertificatePem());
        await Eventually.Until(() => proxy.Host.Config.Generation != generation, "the bundle change is picked up");
        Assert.True(proxy.Host.Config.Generation > generation, "the bundle change was not picked up");
        using var fresh = _pki.Client(svid);
        var accepted = await fresh.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        // Verified now; the policy does not allow other.org, so the answer is a policy 403, not a 401.
        Assert.Equal(HttpStatusCode.Forbidden, accepted.StatusCode);
        Assert.Equal("no_rule_matched", JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task After_reloads_a_route_is_decided_by_the_config_it_was_matched_from()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/before"))).StatusCode);

        // Two reloads that leave route 'allowed' as it was: YARP keeps its model of it, and the new configs hold
        // the very route object YARP matches, so no request has to look for another config.
        for (var i = 0; i < 2; i++)
        {
            Assert.True(await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address,
                extraRoutes: $"    other{i}:\n      ClusterId: upstream\n      Match: {{ Path: \"/other{i}/{{**rest}}\" }}")), proxy.Logs.Text);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/allowed/after-{i}"))).StatusCode);
        }
        // The cluster changes, the route does not: YARP builds a new cluster model from the new config's object.
        Assert.True(await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address)
            .Replace("    upstream:\n", "    upstream:\n      HttpRequest: { ActivityTimeout: \"00:01:00\" }\n", StringComparison.Ordinal)), proxy.Logs.Text);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/cluster-changed"))).StatusCode);
        Assert.DoesNotContain("on the other side of a reload", proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("config_changed", proxy.Decisions.Text, StringComparison.Ordinal);

        // A reload that changes the route itself: the new route, its policy and its credential apply together.
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "second-token.txt"), "canary-second-token-0c1d\n");
        Assert.True(await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address,
                extraCredentials: "  second:\n    provider: file\n    path: second-token.txt\n    inject: { type: header }")
            .Replace("Match: { Path: \"/allowed/{**rest}\" }\n      Metadata: { Credential: github }", "Match: { Path: \"/allowed/{**rest}\" }\n      Metadata: { Credential: second }", StringComparison.Ordinal)), proxy.Logs.Text);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/changed"))).StatusCode);
        Assert.Equal("Bearer canary-second-token-0c1d", proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/changed").Headers["Authorization"]);
    }

    public void Dispose() => _pki.Dispose();
}
