using System.Net;
using System.Security.Cryptography;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// OAuth2 token exchange (RFC 8693) against a real oidc-provider whose token-exchange grant is registered with
/// its own extension API and verifies the proxy's subject tokens against the proxy's JWKS.
/// </summary>
public sealed class TokenExchangeTests : IDisposable
{
    private const string Secret = "canary-exchange-secret-91aa";
    private const string Other = "spiffe://example.org/ns/billing/sa/worker";

    private readonly TestPki _pki = new();

    [Fact]
    public async Task Each_workload_exchanges_its_own_subject_token()
    {
        var adminPort = LoopbackPorts.Next();
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "subject.key"), key.ExportPkcs8PrivateKeyPem());
        }
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), Secret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            new
            {
                client_id = "exchanger", client_secret = Secret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
                grant_types = new[] { "urn:ietf:params:oauth:grant-type:token-exchange" }, token_endpoint_auth_method = "client_secret_basic",
            },
        ], subjectJwks: new Uri($"http://127.0.0.1:{adminPort}/.well-known/jwks.json"));

        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u,
                extraCredentials: $"  exchanged:\n    provider: oauth2-token-exchange\n    tokenUrl: {oidc.TokenUrl}\n    clientId: exchanger\n    clientSecretFile: client-secret\n    subjectSigningKey: subject.key\n    audience: billing-api",
                extraPolicies: "  - name: whole-domain\n    allow: [\"spiffe://example.org/*\"]\n    routes: [allowed]")
            .Replace("Metadata: { Credential: github }\n    denied", "Metadata: { Credential: exchanged }\n    denied", StringComparison.Ordinal)
            .Replace("url: http://127.0.0.1:0", $"url: http://127.0.0.1:{adminPort}", StringComparison.Ordinal));

        using var payments = proxy.Client();
        using var billing = _pki.Client(_pki.Svid(Other));
        using var first = await payments.GetAsync(new Uri(proxy.ProxyUri, "/allowed/p"));
        Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync() + "\n" + oidc.Output);
        Assert.Equal(HttpStatusCode.OK, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/allowed/p2"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await billing.GetAsync(new Uri(proxy.ProxyUri, "/allowed/b"))).StatusCode);

        Assert.Equal(2, await oidc.TokensIssuedAsync(2));
        Assert.Equal(new[] { Other, TestPki.PaymentsId }, oidc.Exchanged.Order(StringComparer.Ordinal));
        string Token(string path) => proxy.Upstream.Requests.Single(r => r.PathAndQuery == path).Headers["Authorization"];
        Assert.Equal(Token("/allowed/p"), Token("/allowed/p2"));
        Assert.NotEqual(Token("/allowed/p"), Token("/allowed/b"));
        Assert.DoesNotContain(Secret, proxy.Logs.Text + proxy.Decisions.Text, StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
