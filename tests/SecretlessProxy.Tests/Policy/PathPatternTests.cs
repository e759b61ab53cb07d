using SecretlessProxy.Policy;

namespace SecretlessProxy.Tests.Policy;

public sealed class PathPatternTests
{
    [Theory]
    [InlineData("/a/**", "/a", true)]
    [InlineData("/a/**", "/a/b/c", true)]
    [InlineData("/a/**", "/ab", false)]
    [InlineData("/a/*/c", "/a/b/c", true)]
    [InlineData("/a/*/c", "/a/b/x/c", false)]
    [InlineData("/a/*.json", "/a/x.json", true)]
    [InlineData("/a/b", "/a/b", true)]
    [InlineData("/a/b", "/a/b/c", false)]
    [InlineData("/a.b", "/aXb", false)]
    public void Matches_globs(string pattern, string path, bool expected)
    {
        Assert.True(PathPattern.TryParse(pattern, out var parsed, out _));
        Assert.Equal(expected, parsed!.IsMatch(path));
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("/a/***")]
    public void Refuses_bad_patterns(string pattern) => Assert.False(PathPattern.TryParse(pattern, out _, out _));
}
