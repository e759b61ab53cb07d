using System.Net;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>When the proxy's own credential or upstream fails, the caller gets 502/503-class problem+json and the upstream is not called.</summary>
public sealed class CredentialFailureTests : IDisposable
{
    private readonly TestPki _pki = new();

    private static JsonElement Json(string body) => JsonDocument.Parse(body).RootElement;

    [Fact]
    public async Task Missing_secret_file_gives_502_naming_the_credential()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, token: null);
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var problem = Json(await response.Content.ReadAsStringAsync());
        Assert.Equal("credential_unavailable", problem.GetProperty("reason").GetString());
        Assert.Equal("github", problem.GetProperty("credential").GetString());
        Assert.Contains("does not exist", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("status").GetInt32() == 502);
        Assert.Equal("error", record.GetProperty("outcome").GetString());
        Assert.Equal("credential_unavailable", record.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Secret_with_line_break_is_refused_not_sent()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, token: "part-one\r\nX-Injected: yes");
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("credential_invalid", Json(body).GetProperty("reason").GetString());
        Assert.DoesNotContain("part-one", body, StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Missing_environment_variable_gives_502()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u,
            extraCredentials: "  from-env: { provider: env, variable: SECRETLESS_TEST_UNSET_VARIABLE }")
            .Replace("Metadata: { Credential: github }", "Metadata: { Credential: from-env }", StringComparison.Ordinal));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("SECRETLESS_TEST_UNSET_VARIABLE", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Upstream_down_gives_502_problem()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(new Uri("http://127.0.0.1:1/")));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_unavailable", Json(await response.Content.ReadAsStringAsync()).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Secret_dir_provider_reads_mounted_keys_and_basic_injector_sends_them()
    {
        Environment.SetEnvironmentVariable("SECRETLESS_TEST_MAPS_KEY", "maps-key-1");
        var mount = Path.Combine(_pki.Directory, "mounted");
        Directory.CreateDirectory(mount);
        await File.WriteAllTextAsync(Path.Combine(mount, "username"), "svc-user");
        await File.WriteAllTextAsync(Path.Combine(mount, "password"), "pw-1");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u,
            extraCredentials: "  db: { provider: secret-dir, path: mounted, key: password, usernameKey: username, inject: { type: basic } }\n" +
                              "  maps: { provider: env, variable: SECRETLESS_TEST_MAPS_KEY, inject: { type: query, name: key } }",
            extraPolicies: "  - name: all-routes\n    allow: [payments]\n    routes: ['*']",
            extraRoutes: "    db:\n      ClusterId: upstream\n      Match: { Path: \"/db/{**rest}\" }\n      Metadata: { Credential: db }\n" +
                         "    maps:\n      ClusterId: upstream\n      Match: { Path: \"/maps/{**rest}\" }\n      Metadata: { Credential: maps }"));
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/db/q"))).StatusCode);
        Assert.Equal("Basic " + Convert.ToBase64String("svc-user:pw-1"u8.ToArray()), proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/db/q").Headers["Authorization"]);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/maps/tile?key=client-sent&z=1"))).StatusCode);
        var maps = proxy.Upstream.Requests.Single(r => r.PathAndQuery.StartsWith("/maps/tile", StringComparison.Ordinal));
        Assert.Contains("key=maps-key-1", maps.PathAndQuery, StringComparison.Ordinal);
        Assert.DoesNotContain("client-sent", maps.PathAndQuery, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tokenUrl", "/token?client_secret=canary-url-query-41c")]
    [InlineData("issuer", "/realms/a?key=canary-url-query-41c")]
    public async Task User_info_and_query_of_a_token_endpoint_are_never_shown(string key, string pathAndQuery)
    {
        File.WriteAllText(Path.Combine(_pki.Directory, "client-secret"), "canary-client-secret-url-77\n");
        var url = $"http://svc:canary-url-pass-93a@127.0.0.1:{SecretlessProxy.Testing.LoopbackPorts.Next()}{pathAndQuery}";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u,
                extraCredentials: $"  idp:\n    provider: oauth2-client-credentials\n    {key}: \"{url}\"\n    clientId: proxy\n    clientSecretFile: client-secret\n    timeout: \"00:00:01\"\n    inject: {{ type: header }}")
            .Replace("Metadata: { Credential: github }\n    denied", "Metadata: { Credential: idp }\n    denied", StringComparison.Ordinal));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("credential_issuer_unavailable", Json(body).GetProperty("reason").GetString());
        Assert.Contains("http://127.0.0.1:", body, StringComparison.Ordinal);
        using var admin = proxy.AdminSocketClient();
        var config = await admin.GetStringAsync(new Uri(proxy.AdminUri, "/config"));
        Assert.Contains("127.0.0.1", config, StringComparison.Ordinal);
        await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("status").GetInt32() == 503);
        foreach (var (what, text) in new[] { ("answer", body), ("GET /config", config), ("logs", proxy.Logs.Text), ("audit", proxy.Decisions.Text) })
        {
            Assert.DoesNotContain("canary-url-pass-93a", text, StringComparison.Ordinal);
            Assert.True(!text.Contains("canary-url-query-41c", StringComparison.Ordinal), $"the query shows in the {what}");
        }
    }

    public void Dispose() => _pki.Dispose();
}
