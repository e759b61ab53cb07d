using SecretlessProxy.Configuration;

namespace SecretlessProxy.Tests.Configuration;

public sealed class EffectiveConfigTests
{
    [Theory]
    [InlineData("credentials:github:provider", "file", "file")]
    [InlineData("credentials:github:path", "github-token.txt", "github-token.txt")]
    [InlineData("credentials:idp:parameters:client_extra", "s3cr3t", "[redacted]")]
    [InlineData("credentials:jwt:claims:team", "payments", "[redacted]")]
    [InlineData("credentials:odd:secretValue", "s3cr3t", "[redacted]")]
    [InlineData("credentials:github", "oops-a-token", "[redacted]")]
    [InlineData("cache:redis:configuration", "redis:6379,password=s3cr3t", "[redacted]")]
    [InlineData("ReverseProxy:Routes:r:Transforms:0:Set", "key-123", "[redacted]")]
    [InlineData("ReverseProxy:Routes:r:Transforms:0:RequestHeader", "X-Api-Key", "X-Api-Key")]
    [InlineData("ReverseProxy:Clusters:c:Destinations:d1:Address", "https://user:pw@api.example.org/", "https://[redacted]@api.example.org/")]
    [InlineData("listeners:0:url", "https://0.0.0.0:8443", "https://0.0.0.0:8443")]
    [InlineData("credentials:idp:tokenUrl", "https://proxy:hunter2@idp.example/token?client_secret=s3cr3t", "https://[redacted]@idp.example/token?[redacted]")]
    [InlineData("credentials:idp:issuer", "https://idp.example/realms/a?key=s3cr3t#x", "https://idp.example/realms/a?[redacted]")]
    [InlineData("credentials:idp:tokenUrl", "https://idp.example/token", "https://idp.example/token")]
    [InlineData("ReverseProxy:Clusters:c:Destinations:d1:Address", "https://api.example.org/base?api_key=s3cr3t", "https://api.example.org/base?[redacted]")]
    public void Redacts_what_may_be_a_secret(string key, string value, string expected) => Assert.Equal(expected, EffectiveConfig.Redact(key, value));
}
