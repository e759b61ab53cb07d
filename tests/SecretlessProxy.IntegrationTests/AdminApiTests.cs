using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using SecretlessProxy.Configuration;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>The admin API exposed over mutual TLS (curl with and without an admin SVID), revocation and the redacted config.</summary>
public sealed class AdminApiTests : IDisposable
{
    private const string Admin = "spiffe://example.org/ns/ops/sa/admin";
    private const string ConfigCanary = "canary-config-4e81c2d09f";

    private readonly TestPki _pki = new();

    private static string Exposed(Uri upstream) => ProxyUnderTest.DefaultConfig(upstream).Replace(
        "    role: admin\n    url: http://127.0.0.1:0",
        $"    role: admin\n    url: https://127.0.0.1:0\n    certificate: {{ cert: server.pem, key: server.key }}\n    trustBundles: {{ example.org: example.org.pem }}\n    allow: [\"{Admin}\"]",
        StringComparison.Ordinal);

    [Fact]
    public async Task Exposed_admin_api_requires_an_admin_svid_and_refuses_other_identities_with_403()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Exposed);
        Assert.Equal("https", proxy.AdminUri.Scheme);
        var admin = _pki.WritePem(_pki.Svid(Admin), "admin");
        var payments = _pki.WritePem(_pki.Svid(), "payments");
        string Url(string path) => new Uri(proxy.AdminUri, path).ToString();

        var inventory = await Curl.RunAsync([.. Curl.Mtls(_pki, admin), Url("/inventory")]);
        Assert.Equal(200, inventory.Status);
        Assert.True(JsonDocument.Parse(inventory.Body).RootElement.TryGetProperty("identities", out _));
        var grant = await Curl.RunAsync([.. Curl.Mtls(_pki, admin), "-X", "POST", "-H", "content-type: application/json",
            "--data", $"{{\"identity\":\"{TestPki.PaymentsId}\",\"route\":\"denied\",\"duration\":\"10m\",\"approver\":\"carol\",\"reason\":\"CHG-9\"}}", Url("/grants")]);
        Assert.Equal(201, grant.Status);
        Assert.Equal(Admin, JsonDocument.Parse(grant.Body).RootElement.GetProperty("createdBy").GetString());

        foreach (var (method, path) in new[] { ("GET", "/inventory"), ("GET", "/metrics"), ("GET", "/config"), ("GET", "/grants"), ("POST", "/credentials/github/revoke") })
        {
            var refused = await Curl.RunAsync([.. Curl.Mtls(_pki, payments), "-X", method, "-i", Url(path)]);
            Assert.Equal(403, refused.Status);
            Assert.Contains("content-type: application/problem+json", refused.Body, StringComparison.OrdinalIgnoreCase);
            var body = JsonDocument.Parse(refused.Body[refused.Body.IndexOf('{', StringComparison.Ordinal)..]).RootElement;
            Assert.Equal("not_an_admin", body.GetProperty("reason").GetString());
            Assert.Equal(TestPki.PaymentsId, body.GetProperty("identity").GetString());
        }
        var anonymous = await Curl.RunAsync("--cacert", _pki.ServerCaPath, Url("/grants"));
        Assert.Equal(401, anonymous.Status);
        Assert.Equal("client_certificate_required", JsonDocument.Parse(anonymous.Body).RootElement.GetProperty("reason").GetString());
        // Probes and verifiers need no SVID.
        Assert.Equal(200, (await Curl.RunAsync("--cacert", _pki.ServerCaPath, Url("/healthz"))).Status);
        Assert.Equal(200, (await Curl.RunAsync("--cacert", _pki.ServerCaPath, Url("/.well-known/jwks.json"))).Status);
    }

    [Fact]
    public async Task Plain_http_admin_listener_beyond_loopback_is_refused_and_https_needs_an_allow_list()
    {
        var upstream = new Uri("http://127.0.0.1:1/");
        var path = Path.Combine(_pki.Directory, "exposed.yaml");
        await File.WriteAllTextAsync(path, ProxyUnderTest.DefaultConfig(upstream).Replace("url: http://127.0.0.1:0", "url: http://0.0.0.0:0", StringComparison.Ordinal));
        var compiled = await SecretlessProxy.Configuration.OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        Assert.Contains(compiled.Errors, e => e.KeyPath == "listeners[1].url" && e.Message.Contains("must use mutual TLS", StringComparison.Ordinal));

        await File.WriteAllTextAsync(path, Exposed(upstream).Replace($"    allow: [\"{Admin}\"]", "", StringComparison.Ordinal));
        compiled = await SecretlessProxy.Configuration.OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        Assert.Contains(compiled.Errors, e => e.KeyPath == "listeners[1].allow" && e.Message.Contains("is required for an https admin listener", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Workload_revocation_drops_its_tokens_and_config_is_served_redacted()
    {
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "jwt.key"), key.ExportPkcs8PrivateKeyPem());
        }
        string Config(Uri u) => ProxyUnderTest.DefaultConfig(u,
            extraCredentials: $"  minted: {{ provider: jwt, signingKey: jwt.key, issuer: https://secretless.test, audience: api, claims: {{ team: {ConfigCanary} }} }}",
            extraPolicies: "  - name: mints\n    allow: [payments]\n    routes: [minted]",
            extraRoutes: "    minted:\n      ClusterId: upstream\n      Match: { Path: \"/minted/{**rest}\" }\n      Metadata: { Credential: minted }\n" +
                         $"      Transforms:\n        - RequestHeader: X-Static-Key\n          Set: {ConfigCanary}");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var admin = new AdminClient(proxy);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/minted/a"))).StatusCode);

        var (status, answer) = await admin.PostAsync("/workloads/revoke", new { identity = TestPki.PaymentsId });
        Assert.Equal(200, status);
        var revoked = Assert.Single(answer.GetProperty("revoked").EnumerateArray());
        Assert.Equal("minted", revoked.GetProperty("credential").GetString());
        Assert.True(revoked.GetProperty("wasCached").GetBoolean());
        Assert.Equal(["github"], answer.GetProperty("sharedNotRevoked").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(400, (await admin.PostAsync("/workloads/revoke", new { identity = "not-an-id" })).Status);

        var (configStatus, config) = await admin.GetAsync("/config");
        Assert.Equal(200, configStatus);
        var text = config.GetRawText();
        Assert.DoesNotContain(ConfigCanary, text, StringComparison.Ordinal);
        Assert.Equal(EffectiveConfigRedacted, config.GetProperty("credentials").GetProperty("minted").GetProperty("claims").GetProperty("team").GetString());
        Assert.Equal("jwt", config.GetProperty("credentials").GetProperty("minted").GetProperty("provider").GetString());
        Assert.Equal("github-token.txt", config.GetProperty("credentials").GetProperty("github").GetProperty("path").GetString());
        Assert.Equal("payments-uses-allowed", config.GetProperty("policies")[0].GetProperty("name").GetString());
        Assert.Equal(EffectiveConfigRedacted, config.GetProperty("ReverseProxy").GetProperty("Routes").GetProperty("minted").GetProperty("Transforms")[0].GetProperty("Set").GetString());
    }

    private const string EffectiveConfigRedacted = "[redacted]";

    public void Dispose() => _pki.Dispose();
}
