using System.Net;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;
using SecretlessProxy.Identity;
using SecretlessProxy.Identity.Bearer;

namespace SecretlessProxy.Tests.Configuration;

/// <summary><c>tokenIssuers</c> and a listener's <c>bearer</c>: what compiles, what is refused and why.</summary>
public sealed class BearerConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-bearer-").FullName;

    public BearerConfigTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
        File.WriteAllText(Path.Combine(_dir, "token.txt"), "t");
    }

    private static string Yaml(string issuer, string bearer = "{ issuers: [ci] }", string url = "http://127.0.0.1:0", string when = "") => $$"""
        listeners:
          - name: local
            url: {{url}}
            bearer: {{bearer}}
        tokenIssuers:
          ci:
        {{issuer}}
        credentials:
          deploy: { provider: file, path: token.txt }
        policies:
          - name: ci-deploys
            allow: ["spiffe://ci.example.org/github/*"]
            routes: [deploy]
        {{when}}
        ReverseProxy:
          Routes:
            deploy: { ClusterId: c, Match: { Path: "/deploy/{**rest}" }, Metadata: { Credential: deploy } }
          Clusters:
            c: { Destinations: { d1: { Address: "https://deploy.example.com/" } } }
        """;

    private const string Good = """
            issuer: https://token.actions.githubusercontent.com
            audiences: [secretless-proxy]
            mapping: claims
            spiffeId: spiffe://ci.example.org/github/{repository}
            facts: [ref]
            maxLifetime: 1h
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
    }

    [Fact]
    public async Task A_bearer_listener_and_its_issuer_compile()
    {
        var result = await CompileAsync(Yaml(Good, when: "    when: { attestation: jwt, claim.ref: refs/heads/main }"));
        Assert.True(result.Errors.Count == 0, string.Join("\n", result.Errors));
        using var config = result.Config!;
        var listener = config.Listener("local")!;
        Assert.Equal(AttestationKind.Jwt, listener.Attestor);
        var bearer = listener.Bearer!;
        Assert.Equal("Authorization", bearer.Header);
        var issuer = Assert.Single(bearer.Issuers);
        Assert.Equal(ClaimMapping.Template, issuer.Mapping);
        Assert.Equal(TimeSpan.FromHours(1), issuer.MaxLifetime);
        Assert.DoesNotContain("none", issuer.Algorithms);
        Assert.DoesNotContain(issuer.Algorithms, a => a.StartsWith("HS", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("    issuer: https://i.example.org\n    mapping: jwt-svid", "tokenIssuers.ci.audiences", "is required")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: jwt-svid\n    algorithms: [none]", "tokenIssuers.ci.algorithms[0]", "an unsigned token proves nothing")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: jwt-svid\n    algorithms: [RS256, HS256]", "tokenIssuers.ci.algorithms[1]", "HMAC")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: kubernetes", "tokenIssuers.ci.trustDomain", "is required")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: claims\n    spiffeId: spiffe://ci.example.org/{repo", "tokenIssuers.ci.spiffeId", "unclosed")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: claim", "tokenIssuers.ci.mapping", "not a claim mapping")]
    [InlineData("    issuer: http://i.example.org\n    audiences: [a]\n    mapping: jwt-svid", "tokenIssuers.ci.issuer", "clear text")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: jwt-svid\n    clockSkew: 1h", "tokenIssuers.ci.clockSkew", "more than 5m")]
    [InlineData("    issuer: https://i.example.org\n    audiences: [a]\n    mapping: jwt-svid\n    audience: a", "tokenIssuers.ci.audience", "")]
    public async Task Refuses_an_unsafe_or_incomplete_issuer(string issuer, string key, string message)
    {
        var result = await CompileAsync(Yaml(issuer));
        var error = Assert.Single(result.Errors, e => e.KeyPath == key);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(error.Fix));
    }

    [Theory]
    [InlineData("{ issuers: [cii] }", "listeners[0].bearer.issuers", "not a token issuer")]
    [InlineData("{ header: Host, issuers: [ci] }", "listeners[0].bearer.header", "carries something else")]
    [InlineData("{ header: Authorization }", "listeners[0].bearer.issuers", "is required")]
    public async Task Refuses_a_bearer_listener_naming_no_usable_issuer_or_header(string bearer, string key, string message)
    {
        var result = await CompileAsync(Yaml(Good, bearer));
        var error = Assert.Single(result.Errors, e => e.KeyPath == key);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
