using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Injection;

namespace SecretlessProxy.Tests.Injection;

public sealed class InjectorTests
{
    private sealed class Recorder : IOutboundRequest
    {
        public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

        public Dictionary<string, string> Query { get; } = [];

        public void SetHeader(string name, string value) => Headers[name] = value;

        public void SetQueryParameter(string name, string value) => Query[name] = value;
    }

    private static (ICredentialInjector Injector, List<string> Errors) Build(ICredentialInjectorFactory factory, Dictionary<string, string?> keys)
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(keys.ToDictionary(k => "inject:" + k.Key, k => k.Value)).Build().GetSection("inject");
        var errors = new List<string>();
        var config = new PluginConfig("github", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (key, message, fix) => errors.Add($"{key}: {message} ({fix})"));
        factory.Validate(config);
        return (factory.Build(config), errors);
    }

    [Fact]
    public void Header_template_formats_the_token()
    {
        var (injector, errors) = Build(new HeaderInjectorFactory(), []);
        Assert.Empty(errors);
        var request = new Recorder();
        injector.Prepare(new Credential("github", new SecretValue("tok-1"))).Apply(request);
        Assert.Equal("Bearer tok-1", request.Headers["Authorization"]);
        Assert.Equal(["Authorization"], injector.HeaderNames);
    }

    [Fact]
    public void Header_template_with_custom_header_and_secret_placeholder()
    {
        var (injector, _) = Build(new HeaderInjectorFactory(), new() { ["name"] = "X-Api-Key", ["template"] = "{secret}" });
        var request = new Recorder();
        injector.Prepare(new Credential("k", new SecretValue("abc"))).Apply(request);
        Assert.Equal("abc", request.Headers["X-Api-Key"]);
    }

    [Fact]
    public void Prepared_value_is_reused_for_the_same_credential()
    {
        var (injector, _) = Build(new HeaderInjectorFactory(), []);
        var credential = new Credential("github", new SecretValue("tok"));
        Assert.Same(injector.Prepare(credential), injector.Prepare(credential));
        Assert.NotSame(injector.Prepare(credential), injector.Prepare(new Credential("github", new SecretValue("tok2"))));
    }

    [Theory]
    [InlineData("tok\r\nX-Evil: 1")]
    [InlineData("tok\nx")]
    [InlineData("tok\0")]
    public void Refuses_values_that_would_split_headers(string secret)
    {
        var (injector, _) = Build(new HeaderInjectorFactory(), []);
        var ex = Assert.Throws<CredentialInjectionException>(() => injector.Prepare(new Credential("github", new SecretValue(secret))));
        Assert.DoesNotContain("tok", ex.Message, StringComparison.Ordinal);
        Assert.Contains("github", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Basic_encodes_user_and_secret()
    {
        var (injector, _) = Build(new BasicInjectorFactory(), new() { ["username"] = "svc" });
        var request = new Recorder();
        injector.Prepare(new Credential("db", new SecretValue("p@ss"))).Apply(request);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("svc:p@ss")), request.Headers["Authorization"]);
    }

    [Fact]
    public void Basic_without_any_username_is_an_injection_error()
    {
        var (injector, _) = Build(new BasicInjectorFactory(), []);
        Assert.Throws<CredentialInjectionException>(() => injector.Prepare(new Credential("db", new SecretValue("p"))));
    }

    [Fact]
    public void Query_sets_the_parameter()
    {
        var (injector, _) = Build(new QueryInjectorFactory(), new() { ["name"] = "api_key" });
        var request = new Recorder();
        injector.Prepare(new Credential("maps", new SecretValue("k1"))).Apply(request);
        Assert.Equal("k1", request.Query["api_key"]);
    }

    [Theory]
    [InlineData("name", "Host")]
    [InlineData("name", "Bad Header")]
    [InlineData("template", "Bearer")]
    [InlineData("template", "Bearer {tokn}")]
    public void Header_injector_validates_its_keys(string key, string value)
    {
        var (_, errors) = Build(new HeaderInjectorFactory(), new() { [key] = value });
        Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void Secret_value_never_formats_its_content()
    {
        var secret = new SecretValue("canary-123");
        Assert.Equal("[redacted]", secret.ToString());
        Assert.Equal("[redacted]", $"{secret}");
        Assert.DoesNotContain("canary", new Credential("c", secret).ToString(), StringComparison.Ordinal);
    }
}
