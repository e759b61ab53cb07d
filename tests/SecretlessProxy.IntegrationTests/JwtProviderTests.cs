using System.Net;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Proxy-minted JWTs: one per workload, verifiable with the JWKS the admin listener serves, rotatable.</summary>
public sealed class JwtProviderTests : IDisposable
{
    private const string Other = "spiffe://example.org/ns/billing/sa/worker";

    private readonly TestPki _pki = new();

    private string WriteKey(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var path = Path.Combine(_pki.Directory, name);
        File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
        return name;
    }

    private static string Config(Uri upstream, string keyFile) =>
        ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: $"  minted: {{ provider: jwt, signingKey: {keyFile}, issuer: https://secretless.test, audience: billing-api, ttl: \"00:05:00\", maxTtl: \"00:10:00\", claims: {{ env: test }} }}",
            extraPolicies: "  - name: whole-domain\n    allow: [\"spiffe://example.org/*\"]\n    routes: [allowed]")
        .Replace("Metadata: { Credential: github }\n    denied", "Metadata: { Credential: minted }\n    denied", StringComparison.Ordinal);

    private static async Task<JsonWebToken> ValidateAsync(string token, ProxyUnderTest proxy)
    {
        using var admin = new HttpClient();
        var jwks = new JsonWebKeySet(await admin.GetStringAsync(new Uri(proxy.AdminUri, "/.well-known/jwks.json")));
        var result = await new JsonWebTokenHandler().ValidateTokenAsync(token, new TokenValidationParameters
        {
            ValidIssuer = "https://secretless.test",
            ValidAudience = "billing-api",
            IssuerSigningKeys = jwks.GetSigningKeys(),
        });
        Assert.True(result.IsValid, result.Exception?.Message);
        return (JsonWebToken)result.SecurityToken;
    }

    [Fact]
    public async Task Each_workload_gets_its_own_token_verifiable_with_the_published_jwks()
    {
        var keyFile = WriteKey("signing-1.key");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, keyFile));
        using var payments = proxy.Client();
        using var billing = _pki.Client(_pki.Svid(Other));
        Assert.Equal(HttpStatusCode.OK, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/allowed/p1"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/allowed/p2"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await billing.GetAsync(new Uri(proxy.ProxyUri, "/allowed/b1"))).StatusCode);

        string Token(string path) => proxy.Upstream.Requests.Single(r => r.PathAndQuery == path).Headers["Authorization"]["Bearer ".Length..];
        Assert.Equal(Token("/allowed/p1"), Token("/allowed/p2"));
        Assert.NotEqual(Token("/allowed/p1"), Token("/allowed/b1"));

        var mine = await ValidateAsync(Token("/allowed/p1"), proxy);
        Assert.Equal(TestPki.PaymentsId, mine.Subject);
        Assert.Equal("test", mine.GetClaim("env").Value);
        Assert.Equal(TimeSpan.FromMinutes(5), mine.ValidTo - mine.ValidFrom);
        Assert.Equal(Other, (await ValidateAsync(Token("/allowed/b1"), proxy)).Subject);
        Assert.DoesNotContain(Token("/allowed/p1"), proxy.Logs.Text + proxy.Decisions.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotated_key_stays_published_while_its_tokens_live()
    {
        var first = WriteKey("signing-1.key");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, first));
        using var client = proxy.Client();
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/before"));
        var oldToken = proxy.Upstream.Requests.Single().Headers["Authorization"]["Bearer ".Length..];

        var second = WriteKey("signing-2.key");
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, second)), proxy.Logs.Text);
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/after"));
        var newToken = proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/after").Headers["Authorization"]["Bearer ".Length..];

        var oldJwt = await ValidateAsync(oldToken, proxy);
        var newJwt = await ValidateAsync(newToken, proxy);
        Assert.NotEqual(oldJwt.Kid, newJwt.Kid);
        using var admin = new HttpClient();
        var jwks = new JsonWebKeySet(await admin.GetStringAsync(new Uri(proxy.AdminUri, "/.well-known/jwks.json")));
        Assert.Equal(2, jwks.Keys.Count);
        Assert.All(jwks.Keys, k => Assert.False(k.HasPrivateKey));
    }

    [Fact]
    public async Task Replacing_the_key_file_in_place_reloads_and_publishes_the_new_key()
    {
        var file = WriteKey("signing.key");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, file));
        using var admin = new HttpClient();
        var before = new JsonWebKeySet(await admin.GetStringAsync(new Uri(proxy.AdminUri, "/.well-known/jwks.json")));
        var generation = proxy.Host.Config.Generation;

        // Rotated by the secret manager: same path, new content, written atomically.
        using (var next = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            var temp = Path.Combine(_pki.Directory, "signing.key.tmp");
            await File.WriteAllTextAsync(temp, next.ExportPkcs8PrivateKeyPem());
            File.Move(temp, Path.Combine(_pki.Directory, file), overwrite: true);
        }
        await Eventually.Until(() => proxy.Host.Config.Generation != generation, "the proxy reloads after the key file changed");
        Assert.True(proxy.Host.Config.Generation > generation, "the proxy did not reload after the key file changed");
        var after = new JsonWebKeySet(await admin.GetStringAsync(new Uri(proxy.AdminUri, "/.well-known/jwks.json")));
        var added = Assert.Single(after.Keys, k => before.Keys.All(b => b.Kid != k.Kid));
        // The replaced key stays published while tokens it signed may live.
        Assert.Contains(after.Keys, k => k.Kid == Assert.Single(before.Keys).Kid);
        // Tokens minted with the new key verify against the published set.
        using var client = _pki.Client(_pki.Svid(Other));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/after-key-change"))).StatusCode);
        var token = proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/after-key-change").Headers["Authorization"]["Bearer ".Length..];
        Assert.Equal(added.Kid, (await ValidateAsync(token, proxy)).Kid);
    }

    public void Dispose() => _pki.Dispose();
}
