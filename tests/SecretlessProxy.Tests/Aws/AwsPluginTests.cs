using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.Aws;

namespace SecretlessProxy.Tests.Aws;

/// <summary>The AWS plugin's pure parts: canonical URI encoding, session names, config validation, the injector's contract.</summary>
public sealed class AwsPluginTests
{
    [Theory]
    [InlineData("", "/")]
    [InlineData("/bucket/key", "/bucket/key")]
    [InlineData("/bucket/a b", "/bucket/a%20b")]
    [InlineData("/bucket/a%20b", "/bucket/a%20b")]
    [InlineData("/bucket/a%7eb%7E", "/bucket/a~b~")]
    [InlineData("/bucket/caf\u00e9", "/bucket/caf%C3%A9")]
    [InlineData("/bucket/odd%ffbyte", "/bucket/odd%FFbyte")]
    [InlineData("/bucket/100%", "/bucket/100%25")]
    [InlineData("/bucket/%zz", "/bucket/%25zz")]
    [InlineData("/bucket/key!$'()*,=:@", "/bucket/key%21%24%27%28%29%2A%2C%3D%3A%40")]
    [InlineData("/bucket/a%2Fb/", "/bucket/a%2Fb/")]
    public void Paths_are_put_in_canonical_encoding(string path, string expected) =>
        Assert.Equal(expected, UriCanonicalizer.Path(path));

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character() =>
        Assert.Equal("/bucket/%EF%BF%BDlone", UriCanonicalizer.Path("/bucket/" + (char)0xD800 + "lone"));

    [Fact]
    public void Queries_keep_their_order_decode_plus_as_space_and_drop_presign_parameters()
    {
        var pairs = UriCanonicalizer.Query("?b=2&a=x+y&X-Amz-Signature=ff&flag&=v&&c=%zz", name => name.Equals("x-amz-signature", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(["b=2", "a=x%20y", "flag=", "=v", "c=%25zz"], pairs.Select(p => p.Key + "=" + p.Value));
    }

    [Theory]
    [InlineData("payments", "payments")]
    [InlineData("spiffe://example.org/ns/payments/sa/api", "spiffe---example.org-ns-payments-sa-api")]
    [InlineData("x", "x-")]
    [InlineData("user@example.org+tag=1,2", "user@example.org+tag=1,2")]
    public void Session_names_are_sanitized_to_what_sts_accepts(string input, string expected)
    {
        var name = AwsNames.SanitizeSessionName(input);
        Assert.Equal(expected, name);
        Assert.True(AwsNames.IsSessionName(name));
    }

    [Fact]
    public void Session_names_are_cut_to_64_characters() =>
        Assert.Equal(64, AwsNames.SanitizeSessionName(new string('a', 100)).Length);

    private static List<string> Validate(ICredentialProviderFactory factory, Dictionary<string, string?> keys)
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(keys.ToDictionary(k => "c:" + k.Key, k => k.Value)).Build().GetSection("c");
        var errors = new List<string>();
        factory.Validate(new PluginConfig("aws", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (key, message, fix) => errors.Add($"{key}: {message} ({fix})")));
        return errors;
    }

    [Fact]
    public void Assume_role_reports_every_bad_key()
    {
        var errors = Validate(new AssumeRoleProviderFactory(), new()
        {
            ["roleArn"] = "arn:aws:s3:::bucket",
            ["roleSessionName"] = "has space",
            ["durationSeconds"] = "60",
            ["region"] = "US_EAST",
            ["stsEndpoint"] = "ftp://sts",
            ["policy"] = "{not json",
            ["accessKeyIdFile"] = "a",
            ["accessKeyIdVariable"] = "B",
        });
        Assert.Contains(errors, e => e.StartsWith("roleArn:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("roleSessionName:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("durationSeconds:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("region:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("stsEndpoint:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("policy:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("accessKeyIdVariable:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("secretAccessKeyFile: is required", StringComparison.Ordinal));
    }

    [Fact]
    public void Web_identity_needs_a_token_file_and_refuses_assume_role_only_keys()
    {
        var errors = Validate(new WebIdentityProviderFactory(), new()
        {
            ["roleArn"] = "arn:aws:iam::123456789012:role/reader",
            ["externalId"] = "abc",
        });
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.StartsWith("tokenFile: is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("externalId:", StringComparison.Ordinal));
    }

    [Fact]
    public void A_valid_assume_role_config_has_no_errors() =>
        Assert.Empty(Validate(new AssumeRoleProviderFactory(), new()
        {
            ["roleArn"] = "arn:aws-cn:iam::123456789012:role/path/uploader",
            ["region"] = "eu-west-1",
            ["durationSeconds"] = "900",
            ["accessKeyIdVariable"] = "AWS_ACCESS_KEY_ID",
            ["secretAccessKeyVariable"] = "AWS_SECRET_ACCESS_KEY",
            ["sessionTags:team"] = "payments",
        }));

    [Fact]
    public void Sigv4_injector_validates_its_keys_and_signs_at_the_last_moment()
    {
        var factory = new SigV4InjectorFactory();
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["inject:service"] = "S3!",
            ["inject:payload"] = "maybe",
            ["inject:maxPayloadBytes"] = "-1",
        }).Build().GetSection("inject");
        var errors = new List<string>();
        factory.Validate(new PluginConfig("aws", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (key, _, _) => errors.Add(key)));
        Assert.Equal(["service", "region", "payload", "maxPayloadBytes"], errors);

        var good = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["inject:service"] = "execute-api",
            ["inject:region"] = "us-east-1",
        }).Build().GetSection("inject");
        var injector = factory.Build(new PluginConfig("aws", good, "/", TimeProvider.System, NullLoggerFactory.Instance, (_, _, _) => { }));
        Assert.True(injector.SignsRequest);
        Assert.Equal(SigV4InjectorFactory.DefaultMaxPayloadBytes, injector.PayloadHashLimit);
        Assert.Contains("X-Amz-Security-Token", injector.HeaderNames);

        var noKeyId = new Credential("aws", new SecretValue("secret"));
        Assert.Throws<CredentialInjectionException>(() => injector.Prepare(noKeyId));
        var badToken = new Credential("aws", new SecretValue("secret")) { Username = "AKID", SessionToken = new SecretValue("a\r\nb") };
        var refused = Assert.Throws<CredentialInjectionException>(() => injector.Prepare(badToken));
        Assert.DoesNotContain("a\r\nb", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Credential_copies_keep_the_session_token_and_redact()
    {
        var credential = new Credential("aws", new SecretValue("secret-key")) { Username = "AKID", SessionToken = new SecretValue("session-token"), IsStatic = true };
        var copy = credential.WithExpiresAt(DateTimeOffset.UnixEpoch);
        Assert.Same(credential.SessionToken, copy.SessionToken);
        Assert.Equal("AKID", copy.Username);
        Assert.True(copy.IsStatic);
        Assert.Equal(DateTimeOffset.UnixEpoch, copy.ExpiresAt);
        Assert.DoesNotContain("session-token", copy.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret-key", copy.ToString(), StringComparison.Ordinal);
    }
}
