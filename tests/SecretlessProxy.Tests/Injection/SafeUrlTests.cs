using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Tests.Injection;

public sealed class SafeUrlTests
{
    [Theory]
    [InlineData("https://proxy:hunter2@idp.example/token?client_secret=s3cr3t", "https://idp.example/token")]
    [InlineData("http://127.0.0.1:8080/realms/a/protocol/openid-connect/token#frag", "http://127.0.0.1:8080/realms/a/protocol/openid-connect/token")]
    [InlineData("https://idp.example", "https://idp.example/")]
    [InlineData("not a url ?with=query", "not a url ")]
    [InlineData("weird://user:pw@host/x?y", "weird://host/x")]
    [InlineData("", "")]
    public void Shows_scheme_host_port_and_path_only(string url, string expected) => Assert.Equal(expected, SafeUrl.Display(url));
}
