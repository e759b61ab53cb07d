using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>The oauth2-client-credentials provider against a real OAuth2 server (oidc-provider from npm).</summary>
public sealed class OAuth2ClientCredentialsTests : IDisposable
{
    private const string ClientSecret = "canary-client-secret-5d21c9";

    private readonly TestPki _pki = new();

    private static string Credential(string body) => $"  oauth:\n{body}\n    inject: {{ type: header, name: Authorization, template: \"Bearer {{token}}\" }}";

    private static string Config(Uri upstream, string credential) =>
        ProxyUnderTest.DefaultConfig(upstream, extraCredentials: credential)
            .Replace("Metadata: { Credential: github }\n    denied", "Metadata: { Credential: oauth }\n    denied", StringComparison.Ordinal);

    [Fact]
    public async Task Client_secret_basic_token_is_fetched_once_for_200_concurrent_calls_and_injected()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_basic", scope = "repo:read" },
        ]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            $"    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    clientId: proxy\n    clientSecretFile: client-secret\n    scopes: [repo:read]")));

        using var client = proxy.Client();
        var traced = TraceParent.Get(new Uri(proxy.ProxyUri, "/allowed/c0"), out var traceId);
        var responses = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => i == 0 ? client.SendAsync(traced) : client.GetAsync(new Uri(proxy.ProxyUri, $"/allowed/c{i}"))));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
        var tokens = proxy.Upstream.Requests.Select(r => r.Headers["Authorization"]).Distinct().ToList();
        var token = Assert.Single(tokens);
        Assert.StartsWith("Bearer ", token, StringComparison.Ordinal);
        Assert.True(token.Length > 20);

        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("traceId").GetString() == traceId);
        Assert.False(record.GetProperty("credentialStatic").GetBoolean());

        // Neither the client secret nor the token shows up anywhere but at the upstream.
        var accessToken = token["Bearer ".Length..];
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text })
        {
            Assert.DoesNotContain(ClientSecret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(accessToken, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Cached_token_keeps_serving_while_the_token_endpoint_is_down()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_basic" },
        ]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            $"    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    clientId: proxy\n    clientSecretFile: client-secret\n    timeout: \"00:00:02\"")));
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/before-outage"))).StatusCode);
        await oidc.DisposeAsync();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/during-outage"))).StatusCode);
        var tokens = proxy.Upstream.Requests.Select(r => r.Headers["Authorization"]).Distinct();
        Assert.Single(tokens);
    }

    [Fact]
    public async Task Revoke_makes_the_next_request_fetch_a_new_token()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_basic" },
        ]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            $"    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    clientId: proxy\n    clientSecretFile: client-secret")));
        using var client = proxy.Client();
        using var admin = proxy.AdminSocketClient();
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/one"));
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/two"));
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));

        using var revoked = await admin.PostAsync(new Uri(proxy.AdminUri, "/credentials/oauth/revoke"), null);
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.Contains("\"wasCached\":true", await revoked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/three"));
        Assert.Equal(2, await oidc.TokensIssuedAsync(2));
        var tokens = proxy.Upstream.Requests.OrderBy(r => r.PathAndQuery, StringComparer.Ordinal).Select(r => r.Headers["Authorization"]).ToList();
        Assert.Equal(2, tokens.Distinct().Count());

        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync(new Uri(proxy.AdminUri, "/credentials/nope/revoke"), null)).StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await admin.GetAsync(new Uri(proxy.AdminUri, "/credentials/oauth/revoke"))).StatusCode);
    }

    [Fact]
    public async Task Issuer_discovery_finds_the_token_endpoint()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_post" },
        ]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            $"    provider: oauth2-client-credentials\n    issuer: {oidc.Issuer}\n    clientId: proxy\n    clientAuth: client_secret_post\n    clientSecretFile: client-secret")));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/discovered"));
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync() + "\n" + oidc.Output);
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
    }

    [Fact]
    public async Task Private_key_jwt_needs_no_shared_secret()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client.key"), key.ExportPkcs8PrivateKeyPem());
        var p = key.ExportParameters(false);
        var jwk = new { kty = "EC", crv = "P-256", x = Base64Url(p.Q.X!), y = Base64Url(p.Q.Y!), kid = "k1", use = "sig", alg = "ES256" };
        await using var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new { client_id = "proxy-jwt", grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "private_key_jwt", jwks = new { keys = new[] { jwk } } },
        ]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            $"    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    clientId: proxy-jwt\n    clientAuth: private_key_jwt\n    privateKey: client.key\n    keyId: k1")));

        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/jwt"));
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync() + "\n" + oidc.Output);
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
        Assert.StartsWith("Bearer ", proxy.Upstream.Requests.Single().Headers["Authorization"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refused_client_gets_502_with_the_oauth_error_and_no_secret()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret + "-wrong");
        await using var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_basic" },
        ]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            $"    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    clientId: proxy\n    clientSecretFile: client-secret")));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/refused"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("credential_unavailable", problem.GetProperty("reason").GetString());
        Assert.Contains("invalid_client", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(ClientSecret, body + proxy.Logs.Text, StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Token_endpoint_down_with_nothing_cached_gives_503_without_calling_upstream()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, Credential(
            "    provider: oauth2-client-credentials\n    tokenUrl: http://127.0.0.1:1/token\n    clientId: proxy\n    clientSecretFile: client-secret\n    timeout: \"00:00:02\"")));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/down"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("credential_issuer_unavailable", problem.GetProperty("reason").GetString());
        Assert.Equal("oauth", problem.GetProperty("credential").GetString());
        Assert.Contains("unreachable", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Empty(proxy.Upstream.Requests);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => _pki.Dispose();
}
