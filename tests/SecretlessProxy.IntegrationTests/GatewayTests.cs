using System.Net;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Allowed and denied calls, header spoofing and path tricks, through a real proxy with real clients.</summary>
public sealed class GatewayTests(SharedProxy shared) : IClassFixture<SharedProxy>
{
    private ProxyUnderTest Proxy => shared.Proxy;

    private static JsonElement Json(string body) => JsonDocument.Parse(body).RootElement;

    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task Allowed_call_reaches_upstream_with_injected_credential(string version)
    {
        using var client = Proxy.Client(Version.Parse(version));
        using var request = TraceParent.Get(new Uri(Proxy.ProxyUri, $"/allowed/repos?v={version}"), out var traceId);
        request.Version = Version.Parse(version);
        request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Version.Parse(version), response.Version);
        var received = Assert.Single(Proxy.Upstream.Requests, r => r.PathAndQuery == $"/allowed/repos?v={version}");
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, received.Headers["Authorization"]);
        var record = await Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("traceId").GetString() == traceId);
        Assert.Equal(200, record.GetProperty("status").GetInt32());
        Assert.Equal("/allowed/{**rest}", record.GetProperty("pathTemplate").GetString());
        Assert.Equal("allow", record.GetProperty("outcome").GetString());
        Assert.Equal(TestPki.PaymentsId, record.GetProperty("identity").GetString());
        Assert.Equal("allowed", record.GetProperty("route").GetString());
        Assert.Equal("payments-uses-allowed", record.GetProperty("rule").GetString());
        Assert.Equal("github", record.GetProperty("credential").GetString());
        Assert.True(record.GetProperty("credentialStatic").GetBoolean());
        Assert.Contains("Credential github is a static secret from the 'file' store", Proxy.Logs.Text, StringComparison.Ordinal);
        Assert.Equal("GET", record.GetProperty("method").GetString());
        Assert.Equal("mtls", record.GetProperty("listener").GetString());
    }

    [Fact]
    public async Task Denied_call_gets_403_naming_no_rule_and_upstream_sees_nothing()
    {
        using var client = Proxy.Client();
        using var response = await client.GetAsync(new Uri(Proxy.ProxyUri, "/denied/secrets"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = Json(await response.Content.ReadAsStringAsync());
        Assert.Equal("no_rule_matched", problem.GetProperty("reason").GetString());
        Assert.Equal("no rule matched", problem.GetProperty("rule").GetString());
        Assert.Equal(TestPki.PaymentsId, problem.GetProperty("identity").GetString());
        Assert.Equal("denied", problem.GetProperty("route").GetString());
        Assert.DoesNotContain(Proxy.Upstream.Requests, r => r.PathAndQuery.StartsWith("/denied", StringComparison.Ordinal));
        var record = await Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("requestId").GetString() == problem.GetProperty("requestId").GetString());
        Assert.Equal("deny", record.GetProperty("outcome").GetString());
        Assert.Equal(403, record.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Unknown_workload_in_a_trusted_domain_is_denied()
    {
        using var client = shared.Pki.Client(shared.Pki.Svid("spiffe://example.org/ns/other/sa/app"));
        using var response = await client.GetAsync(new Uri(Proxy.ProxyUri, "/allowed/x-unknown"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.DoesNotContain(Proxy.Upstream.Requests, r => r.PathAndQuery == "/allowed/x-unknown");
    }

    [Fact]
    public async Task No_route_gets_404_problem()
    {
        using var client = Proxy.Client();
        using var response = await client.GetAsync(new Uri(Proxy.ProxyUri, "/nowhere"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("no_route", Json(await response.Content.ReadAsStringAsync()).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Spoofed_credentials_and_forwarding_headers_never_reach_upstream()
    {
        var svid = shared.Pki.WritePem(shared.Pki.Svid(), "spoof");
        var result = await Curl.RunAsync([.. Curl.Mtls(shared.Pki, svid), "--http1.1",
            "-H", "Authorization: Bearer spoofed-by-client",
            "-H", "Proxy-Authorization: Basic c3Bvb2Y=",
            "-H", "X-Forwarded-For: 10.6.6.6",
            "-H", "X-Forwarded-Host: evil.example",
            "-H", "Forwarded: for=10.6.6.6",
            "-H", "X-Secret-Hint: drop-me",
            "-H", "Connection: X-Secret-Hint, Authorization",
            new Uri(Proxy.ProxyUri, "/allowed/spoof").ToString()]);
        Assert.Equal(200, result.Status);
        var received = Assert.Single(Proxy.Upstream.Requests, r => r.PathAndQuery == "/allowed/spoof");
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, received.Headers["Authorization"]);
        Assert.False(received.Headers.ContainsKey("Proxy-Authorization"));
        Assert.False(received.Headers.ContainsKey("X-Secret-Hint"));
        Assert.False(received.Headers.ContainsKey("Forwarded"));
        Assert.DoesNotContain("10.6.6.6", received.Headers.GetValueOrDefault("X-Forwarded-For") ?? "", StringComparison.Ordinal);
        Assert.NotEqual("evil.example", received.Headers.GetValueOrDefault("X-Forwarded-Host"));
    }

    [Fact]
    public async Task Spoofed_authorization_over_http2_is_replaced()
    {
        using var client = Proxy.Client(HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(Proxy.ProxyUri, "/allowed/spoof-h2"));
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer spoofed");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, Assert.Single(Proxy.Upstream.Requests, r => r.PathAndQuery == "/allowed/spoof-h2").Headers["Authorization"]);
    }

    [Theory]
    [InlineData("/allowed/..%2Fdenied/x", "path_ambiguous_encoding")]
    [InlineData("/allowed/%2e%2e/denied/x", "path_ambiguous_encoding")]
    [InlineData("/allowed/%2E%2E%2Fdenied/x", "path_ambiguous_encoding")]
    [InlineData("/allowed/%252e%252e/denied", "path_ambiguous_encoding")]
    [InlineData("/allowed/../denied/x", "path_dot_segment")]
    [InlineData("/allowed/./x", "path_dot_segment")]
    [InlineData("//denied/x", "path_empty_segment")]
    [InlineData("/allowed//denied", "path_empty_segment")]
    [InlineData("/allowed;x=1/../denied", "path_parameter")]
    [InlineData("/allowed%5c..%5cdenied", "path_ambiguous_encoding")]
    public async Task Path_tricks_are_refused_before_policy_and_never_forwarded(string path, string reason)
    {
        var svid = shared.Pki.WritePem(shared.Pki.Svid(), "paths");
        var before = Proxy.Upstream.Requests.Count;
        var result = await Curl.RunAsync([.. Curl.Mtls(shared.Pki, svid), "--path-as-is", Proxy.ProxyUri.ToString().TrimEnd('/') + path]);
        Assert.Equal(400, result.Status);
        Assert.Equal(reason, Json(result.Body).GetProperty("reason").GetString());
        Assert.Equal(before, Proxy.Upstream.Requests.Count);
        Assert.DoesNotContain(Proxy.Upstream.Requests, r => r.PathAndQuery.Contains("denied", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Admin_listener_serves_health_and_readiness()
    {
        using var client = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(Proxy.AdminUri, "/healthz"))).StatusCode);
        using var ready = await client.GetAsync(new Uri(Proxy.AdminUri, "/readyz"));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready", Json(await ready.Content.ReadAsStringAsync()).GetProperty("status").GetString());
        // The admin listener proxies nothing; as a plain loopback listener it serves nothing beyond probes and metrics.
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri(Proxy.AdminUri, "/allowed/x"))).StatusCode);
        using var admin = Proxy.AdminSocketClient();
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/allowed/x")).StatusCode);
    }
}
