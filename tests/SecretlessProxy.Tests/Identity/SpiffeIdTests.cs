using SecretlessProxy.Identity;

namespace SecretlessProxy.Tests.Identity;

public sealed class SpiffeIdTests
{
    [Theory]
    [InlineData("spiffe://example.org", "example.org", "")]
    [InlineData("spiffe://example.org/ns/payments/sa/api", "example.org", "/ns/payments/sa/api")]
    [InlineData("spiffe://a-b_c.9/x", "a-b_c.9", "/x")]
    [InlineData("spiffe://example.org/Mixed.Case-Path_1", "example.org", "/Mixed.Case-Path_1")]
    [InlineData("spiffe://example.org/...", "example.org", "/...")]
    public void Accepts_valid_ids(string text, string trustDomain, string path)
    {
        Assert.True(SpiffeId.TryParse(text, out var id, out var error), error);
        Assert.Equal(trustDomain, id.TrustDomain);
        Assert.Equal(path, id.Path.ToString());
        Assert.Equal(text, id.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("https://example.org/a", "scheme")]
    [InlineData("SPIFFE://example.org/a", "scheme")]
    [InlineData("spiffe:/example.org/a", "scheme")]
    [InlineData("spiffe://", "trust domain is missing")]
    [InlineData("spiffe:///path", "trust domain is missing")]
    [InlineData("spiffe://Example.org/a", "lowercase")]
    [InlineData("spiffe://example.org:8080/a", "port")]
    [InlineData("spiffe://user@example.org/a", "user info")]
    [InlineData("spiffe://exa%6dple.org/a", "percent")]
    [InlineData("spiffe://exa mple.org/a", "invalid character")]
    [InlineData("spiffe://example.org/", "trailing slash")]
    [InlineData("spiffe://example.org/a/", "trailing slash")]
    [InlineData("spiffe://example.org//a", "empty segment")]
    [InlineData("spiffe://example.org/a//b", "empty segment")]
    [InlineData("spiffe://example.org/./a", "'.' or '..'")]
    [InlineData("spiffe://example.org/a/..", "'.' or '..'")]
    [InlineData("spiffe://example.org/a%2Fb", "percent-encoded")]
    [InlineData("spiffe://example.org/a?x=1", "query")]
    [InlineData("spiffe://example.org/a#frag", "fragment")]
    [InlineData("spiffe://example.org/a b", "invalid character")]
    [InlineData("spiffe://example.org/caf\u00e9", "invalid character")]
    public void Refuses_malformed_ids(string text, string reason)
    {
        Assert.False(SpiffeId.TryParse(text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Accepts_ids_up_to_2048_bytes_and_refuses_longer()
    {
        var prefix = "spiffe://example.org/";
        var exact = prefix + new string('a', SpiffeId.MaxLength - prefix.Length);
        Assert.True(SpiffeId.TryParse(exact, out _, out _));
        Assert.False(SpiffeId.TryParse(exact + "a", out _, out var error));
        Assert.Contains("2048", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Refuses_trust_domain_longer_than_255()
    {
        Assert.False(SpiffeId.TryParse("spiffe://" + new string('a', 256) + "/x", out _, out var error));
        Assert.Contains("255", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Root_id_is_flagged()
    {
        Assert.True(SpiffeId.Parse("spiffe://example.org").IsRoot);
        Assert.False(SpiffeId.Parse("spiffe://example.org/a").IsRoot);
    }

    [Theory]
    [InlineData("spiffe://example.org/ns/a/sa/b", "spiffe://example.org/ns/a/sa/b", true)]
    [InlineData("spiffe://example.org/ns/a/sa/b", "spiffe://example.org/ns/a/sa/bc", false)]
    [InlineData("spiffe://example.org/ns/a/*", "spiffe://example.org/ns/a/sa/b", true)]
    [InlineData("spiffe://example.org/ns/a/*", "spiffe://example.org/ns/ab/sa/b", false)]
    [InlineData("spiffe://example.org/ns/a/*", "spiffe://example.org/ns/a", false)]
    [InlineData("spiffe://example.org/*", "spiffe://example.org/anything/at/all", true)]
    [InlineData("spiffe://example.org/*", "spiffe://example.org.evil/x", false)]
    [InlineData("spiffe://example.org/*", "spiffe://other.org/x", false)]
    public void Patterns_match_whole_segments(string pattern, string id, bool expected)
    {
        Assert.True(SpiffeIdPattern.TryParse(pattern, out var parsed, out var error), error);
        Assert.Equal(expected, parsed.Matches(SpiffeId.Parse(id)));
    }

    [Theory]
    [InlineData("spiffe://example.org/ns/*/sa/api")]
    [InlineData("spiffe://example.org/ns/a*")]
    [InlineData("spiffe://example.org")]
    [InlineData("spiffe://Example.org/*")]
    [InlineData("example.org/*")]
    public void Refuses_bad_patterns(string pattern) =>
        Assert.False(SpiffeIdPattern.TryParse(pattern, out _, out _));
}
