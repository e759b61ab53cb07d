using SecretlessProxy.Identity.Bearer;

namespace SecretlessProxy.Tests.Identity;

/// <summary>How a verified token's claims name the caller and which facts policy sees.</summary>
public sealed class TokenClaimMapperTests
{
    private static TokenIssuerSettings Issuer(ClaimMapping mapping, string? trustDomain = null, string? template = null, params string[] facts) => new()
    {
        Name = "test",
        Issuer = "https://issuer.example.org",
        Audiences = ["secretless-proxy"],
        Algorithms = ["RS256"],
        Mapping = mapping,
        TrustDomain = trustDomain,
        SpiffeIdTemplate = template,
        FactClaims = facts,
    };

    private static string? Map(TokenIssuerSettings issuer, Dictionary<string, string> claims, out Dictionary<string, string> facts, out string? error) =>
        TokenClaimMapper.Map(issuer, name => claims.GetValueOrDefault(name), out facts, out error)?.Value;

    [Theory]
    [InlineData("system:serviceaccount:shop:checkout", "spiffe://cluster.example.org/ns/shop/sa/checkout")]
    [InlineData("system:serviceaccount:kube-system:coredns", "spiffe://cluster.example.org/ns/kube-system/sa/coredns")]
    [InlineData("system:serviceaccount:ns:sa.with.dots", "spiffe://cluster.example.org/ns/ns/sa/sa.with.dots")]
    [InlineData("system:serviceaccount:shop", null)]
    [InlineData("system:serviceaccount:shop:checkout:extra", null)]
    [InlineData("system:serviceaccount:Shop:checkout", null)]
    [InlineData("system:serviceaccount::checkout", null)]
    [InlineData("system:node:worker-1", null)]
    [InlineData("system:serviceaccount:shop:../admin", null)]
    public void Maps_a_kubernetes_service_account_to_a_spiffe_id(string subject, string? expected)
    {
        var id = Map(Issuer(ClaimMapping.Kubernetes, "cluster.example.org"), new() { ["sub"] = subject }, out var facts, out var error);
        Assert.Equal(expected, id);
        Assert.Equal(expected is null, error is not null);
        Assert.Equal(subject, facts["subject"]);
    }

    [Theory]
    [InlineData("spiffe://example.org/ns/jobs/sa/rotator", "example.org", "spiffe://example.org/ns/jobs/sa/rotator")]
    [InlineData("spiffe://example.org/ns/jobs/sa/rotator", null, "spiffe://example.org/ns/jobs/sa/rotator")]
    [InlineData("spiffe://other.org/ns/jobs/sa/rotator", "example.org", null)]
    [InlineData("spiffe://example.org", "example.org", null)]
    [InlineData("rotator", "example.org", null)]
    public void Takes_a_jwt_svid_sub_as_the_spiffe_id_in_its_trust_domain(string subject, string? trustDomain, string? expected)
    {
        Assert.Equal(expected, Map(Issuer(ClaimMapping.JwtSvid, trustDomain), new() { ["sub"] = subject }, out _, out _));
    }

    [Fact]
    public void Fills_a_template_from_ci_claims_and_copies_the_listed_claims_as_facts()
    {
        var issuer = Issuer(ClaimMapping.Template, template: "spiffe://ci.example.org/github/{repository}", facts: ["ref", "environment", "workflow_ref"]);
        var claims = new Dictionary<string, string>
        {
            ["sub"] = "repo:octo-org/payments:environment:production",
            ["repository"] = "octo-org/payments",
            ["ref"] = "refs/heads/main",
            ["environment"] = "production",
            ["actor"] = "octocat",
        };
        Assert.Equal("spiffe://ci.example.org/github/octo-org/payments", Map(issuer, claims, out var facts, out var error));
        Assert.Null(error);
        Assert.Equal("refs/heads/main", facts["claim.ref"]);
        Assert.Equal("production", facts["claim.environment"]);
        Assert.False(facts.ContainsKey("claim.workflow_ref"));
        Assert.False(facts.ContainsKey("claim.actor"));
        Assert.Equal("https://issuer.example.org", facts["issuer"]);
        Assert.Equal("test", facts["tokenIssuer"]);
    }

    [Theory]
    [InlineData("octo-org/payments:evil")]
    [InlineData("octo-org/../admin")]
    [InlineData("")]
    [InlineData("octo org")]
    public void Refuses_claims_that_would_make_another_or_no_spiffe_id(string repository)
    {
        var issuer = Issuer(ClaimMapping.Template, template: "spiffe://ci.example.org/github/{repository}");
        Assert.Null(Map(issuer, new() { ["repository"] = repository }, out _, out var error));
        Assert.NotNull(error);
    }
}
