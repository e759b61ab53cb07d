using System.Net;
using System.Security.Cryptography;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>The admin listener's /metrics after a real sequence of calls, scraped with curl.</summary>
public sealed class MetricsTests : IDisposable
{
    private readonly TestPki _pki = new();

    private string Config(Uri upstream, string extra = "")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(Path.Combine(_pki.Directory, "jwt.key"), key.ExportPkcs8PrivateKeyPem());
        // 'broken' asks a closed port for tokens: every attempt fails fast, so its circuit breaker opens.
        var deadPort = LoopbackPorts.Next();
        File.WriteAllText(Path.Combine(_pki.Directory, "client-secret"), "s3cret-client");
        return ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials:
                "  minted: { provider: jwt, signingKey: jwt.key, issuer: https://secretless.test, audience: api }\n" +
                $"  broken: {{ provider: oauth2-client-credentials, tokenUrl: \"http://127.0.0.1:{deadPort}/token\", clientId: proxy, clientSecretFile: client-secret }}",
            extraPolicies: "  - name: payments-mints\n    allow: [payments]\n    routes: [minted, broken]",
            extraRoutes:
                "    minted: { ClusterId: upstream, Match: { Path: \"/minted/{**rest}\" }, Metadata: { Credential: minted } }\n" +
                "    broken: { ClusterId: upstream, Match: { Path: \"/broken/{**rest}\" }, Metadata: { Credential: broken } }") + extra;
    }

    [Fact]
    public async Task Metrics_count_requests_stages_decisions_cache_fetches_breakers_and_tls_failures_without_identities_or_paths()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        using var client = proxy.Client();
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/allowed/user-{i}"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/minted/user-{i}"))).StatusCode);
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri(proxy.ProxyUri, "/denied/x"))).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/broken/{i}"))).StatusCode);
        }
        using (var untrusted = _pki.Client(_pki.UnknownCa.IssueSvid(TestPki.PaymentsId, TimeSpan.FromHours(1))))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await untrusted.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"))).StatusCode);
        }
        // Plain HTTP to the TLS port: the handshake never completes.
        var plain = await Curl.RunAsync("http://127.0.0.1:" + proxy.ProxyUri.Port + "/allowed/x");
        Assert.NotEqual(200, plain.Status);

        var text = await Scrape.WaitForAsync(proxy, "secretless_tls_handshake_failures_total", "listener=\"mtls\",reason=\"handshake_failed\"", v => v >= 1);
        Assert.Equal(1, Scrape.Value(text, "secretless_tls_handshake_failures_total", "listener=\"mtls\",reason=\"chain_untrusted\""));
        Assert.Equal(3, Scrape.Value(text, "secretless_request_duration_seconds_count", "route=\"allowed\",outcome=\"allow\""));
        Assert.Equal(3, Scrape.Value(text, "secretless_request_duration_seconds_count", "route=\"minted\",outcome=\"allow\""));
        Assert.Equal(1, Scrape.Value(text, "secretless_request_duration_seconds_count", "route=\"denied\",outcome=\"deny\""));
        Assert.Equal(3, Scrape.Value(text, "secretless_request_duration_seconds_count", "route=\"broken\",outcome=\"error\""));
        Assert.Equal(1, Scrape.Value(text, "secretless_request_duration_seconds_count", "route=\"none\",outcome=\"deny\""));
        Assert.Equal(3, Scrape.Value(text, "secretless_policy_decisions_total", "rule=\"payments-uses-allowed\",outcome=\"allow\""));
        Assert.Equal(6, Scrape.Value(text, "secretless_policy_decisions_total", "rule=\"payments-mints\",outcome=\"allow\""));
        Assert.Equal(1, Scrape.Value(text, "secretless_policy_decisions_total", "rule=\"none\",outcome=\"deny\""));
        Assert.Equal(6, Scrape.Value(text, "secretless_upstream_latency_seconds_count", "route=\"allowed\"") + Scrape.Value(text, "secretless_upstream_latency_seconds_count", "route=\"minted\""));
        foreach (var stage in new[] { "identity", "policy", "credential" })
        {
            Assert.True(Scrape.Value(text, "secretless_proxy_overhead_seconds_count", $"stage=\"{stage}\"") >= 9, stage);
        }
        Assert.Equal(6, Scrape.Value(text, "secretless_proxy_overhead_seconds_count", "stage=\"injection\""));
        Assert.Equal(6, Scrape.Value(text, "secretless_proxy_overhead_seconds_count", "stage=\"total\""));
        // jwt: one miss then hits; the broken credential misses every time.
        Assert.Equal(2, Scrape.Value(text, "secretless_credential_cache_lookups_total", "layer=\"l1\",result=\"hit\""));
        Assert.True(Scrape.Value(text, "secretless_credential_cache_lookups_total", "layer=\"l1\",result=\"miss\"") >= 4);
        Assert.Equal(1, Scrape.Value(text, "secretless_token_fetches_total", "provider=\"jwt\",result=\"issued\""));
        Assert.Equal(1, Scrape.Value(text, "secretless_token_fetch_duration_seconds_count", "provider=\"jwt\""));
        Assert.True(Scrape.Value(text, "secretless_token_fetches_total", "provider=\"oauth2-client-credentials\",result=\"outage\"") >= 2);
        Assert.Equal(2, Scrape.Value(text, "secretless_circuit_breaker_state", "credential=\"broken\""));
        Assert.Equal(0, Scrape.Value(text, "secretless_audit_records_dropped_total"));
        Assert.Equal(0, Scrape.Value(text, "secretless_active_grants"));
        Assert.Equal(1, Scrape.Value(text, "secretless_config_generation"));
        Assert.Null(Scrape.Value(text, "secretless_redis_available"));
        Assert.Contains("process_cpu_seconds_total", Scrape.Families(text));

        // Bounded labels: no SPIFFE ID, no concrete path.
        Assert.DoesNotContain("spiffe://", text, StringComparison.Ordinal);
        Assert.DoesNotContain("user-", text, StringComparison.Ordinal);
        Assert.DoesNotContain("secretless_requests_by_identity_total{", text, StringComparison.Ordinal);
        foreach (var family in Scrape.Families(text).Where(f => f.StartsWith("secretless_", StringComparison.Ordinal)))
        {
            Assert.Matches("_(total|seconds|bytes|state|available|grants|length|generation)$", family);
        }

        // Per-identity series only when asked for.
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, "\nmetrics: { identityLabels: true }\n")));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/again"))).StatusCode);
        text = await Scrape.WaitForAsync(proxy, "secretless_requests_by_identity_total", $"identity=\"{TestPki.PaymentsId}\",route=\"allowed\",outcome=\"allow\"", v => v == 1);
        Assert.Equal(1, Scrape.Value(text, "secretless_config_reloads_total", "result=\"applied\""));
    }

    public void Dispose() => _pki.Dispose();
}
