using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SecretlessProxy.Abstractions;
using SecretlessProxy.IntegrationTests.Infrastructure;
using SecretlessProxy.Plugins.Aws;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// AWS end to end: STS session credentials (a Node STS) and SigV4 signatures checked by an upstream that recomputes
/// them with AWS's own @smithy/signature-v4, through a route whose transform rewrites the path.
/// </summary>
public sealed class AwsSigV4Tests : IDisposable
{
    private const string RoleArn = "arn:aws:iam::123456789012:role/uploader";

    private readonly TestPki _pki = new();

    private static string Config(Uri upstream, Uri s3, string credential, string inject = "{ type: sigv4, service: s3, region: us-east-1 }") =>
        ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: $"  aws:\n{credential}\n    inject: {inject}",
            extraPolicies: "  - name: payments-uses-s3\n    allow: [payments]\n    routes: [s3]",
            extraRoutes: "    s3:\n      ClusterId: s3\n      Match: { Path: \"/s3/{**rest}\" }\n      Metadata: { Credential: aws }\n      Transforms: [ { PathRemovePrefix: /s3 } ]")
        .Replace("  Clusters:\n", $"  Clusters:\n    s3:\n      Destinations:\n        d1: {{ Address: \"{s3}\" }}\n", StringComparison.Ordinal);

    private async Task WriteBaseKeysAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "aws-access-key-id"), AwsTestServer.BaseAccessKeyId + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "aws-secret-access-key"), AwsTestServer.BaseSecretAccessKey + "\n");
    }

    private static string AssumeRole(Uri sts) =>
        $"    provider: aws-sts-assume-role\n    roleArn: {RoleArn}\n    region: us-east-1\n    stsEndpoint: {sts}\n    externalId: test-external-id\n" +
        "    accessKeyIdFile: aws-access-key-id\n    secretAccessKeyFile: aws-secret-access-key\n    timeout: \"00:00:02\"";

    private static async Task<JsonElement> VerifiedAsync(HttpResponseMessage response, AwsTestServer aws)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}\n{aws.Output}");
        var json = JsonDocument.Parse(body).RootElement;
        Assert.True(json.GetProperty("verified").GetBoolean());
        return json;
    }

    [Fact]
    public async Task Assume_role_session_credentials_sign_requests_the_upstream_verifies()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri, AssumeRole(aws.StsUri)));
        using var client = proxy.Client();

        using var first = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/reports/2026%20Q3/summary.csv?list-type=2&prefix=a%2Fb&marker="));
        var verified = await VerifiedAsync(first, aws);
        using var second = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/reports/other.csv"));
        await VerifiedAsync(second, aws);

        var issued = Assert.Single(await aws.IssuedAsync(1));
        Assert.Equal("AssumeRole", issued.GetProperty("action").GetString());
        Assert.Equal(RoleArn, issued.GetProperty("roleArn").GetString());
        Assert.Equal("test-external-id", issued.GetProperty("externalId").GetString());
        Assert.Equal("secretless-proxy-aws", issued.GetProperty("roleSessionName").GetString());
        Assert.Equal(issued.GetProperty("accessKeyId").GetString(), verified.GetProperty("accessKeyId").GetString());
        Assert.True(verified.GetProperty("sessionCredentials").GetBoolean());
        Assert.True(verified.GetProperty("securityTokenMatches").GetBoolean());
        Assert.Contains("x-amz-security-token", verified.GetProperty("signedHeaders").EnumerateArray().Select(h => h.GetString()));
        Assert.Equal("UNSIGNED-PAYLOAD", verified.GetProperty("contentSha256").GetString());
        // Signed after the route's transform removed /s3, in the canonical encoding that went on the wire.
        Assert.StartsWith("/reports/2026%20Q3/summary.csv?", verified.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);

        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("route").GetString() == "s3");
        Assert.False(record.GetProperty("credentialStatic").GetBoolean());
        AssertNoSecretsIn(proxy.Logs.Text + proxy.Decisions.Text, issued);
    }

    [Fact]
    public async Task A_request_the_client_signed_itself_is_stripped_and_re_signed()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri, AssumeRole(aws.StsUri)));
        using var client = proxy.Client();

        using var request = new HttpRequestMessage(HttpMethod.Get,
            new Uri(proxy.ProxyUri, "/s3/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDCLIENT%2F20200101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00ff&versionId=3"));
        request.Headers.TryAddWithoutValidation("Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20200101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + new string('a', 64));
        request.Headers.TryAddWithoutValidation("X-Amz-Date", "20200101T000000Z");
        request.Headers.TryAddWithoutValidation("X-Amz-Security-Token", "client-token-must-not-pass");
        request.Headers.TryAddWithoutValidation("X-Amz-Content-Sha256", new string('0', 64));
        request.Headers.TryAddWithoutValidation("X-Amz-Meta-Owner", "payments");
        using var response = await client.SendAsync(request);
        var verified = await VerifiedAsync(response, aws);

        Assert.Equal(Assert.Single(aws.Issued).GetProperty("accessKeyId").GetString(), verified.GetProperty("accessKeyId").GetString());
        Assert.True(verified.GetProperty("securityTokenMatches").GetBoolean());
        Assert.Equal("/bucket/key?versionId=3", verified.GetProperty("url").GetString());
        // The client's own x-amz-* header is kept, and signed.
        Assert.Contains("x-amz-meta-owner", verified.GetProperty("signedHeaders").EnumerateArray().Select(h => h.GetString()));
    }

    [Fact]
    public async Task The_verifier_rejects_a_wrong_signature_so_these_tests_can_fail()
    {
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        using var http = new HttpClient();
        var keys = new AwsSigningCredentials(AwsTestServer.BaseAccessKeyId, new SecretValue(AwsTestServer.BaseSecretAccessKey));
        var options = new SigV4Options("us-east-1", "s3", NormalizePath: false, SignPayloadHashHeader: true, EncodePath: false, EncodeQuery: false);
        var host = aws.S3Uri.Authority;

        async Task<HttpResponseMessage> SendAsync(string signedPath, string sentPath, Func<string, string>? tamper = null)
        {
            var signature = SigV4Signer.Sign(new SigV4Request("GET", signedPath, [], [new("host", host)], SigV4Request.UnsignedPayload), keys, options, DateTimeOffset.UtcNow);
            var message = new HttpRequestMessage(HttpMethod.Get, new Uri(aws.S3Uri, sentPath));
            foreach (var (name, value) in signature.HeadersToSet)
            {
                message.Headers.TryAddWithoutValidation(name, name == "Authorization" && tamper is not null ? tamper(value) : value);
            }
            return await http.SendAsync(message);
        }

        using (var good = await SendAsync("/bucket/key", "/bucket/key"))
        {
            await VerifiedAsync(good, aws);
        }
        using (var tampered = await SendAsync("/bucket/key", "/bucket/key", a => a[..^1] + (a[^1] == '0' ? '1' : '0')))
        {
            Assert.Equal(HttpStatusCode.Forbidden, tampered.StatusCode);
            Assert.Contains("SignatureDoesNotMatch", await tampered.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var otherPath = await SendAsync("/bucket/key", "/bucket/other-key"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, otherPath.StatusCode);
        }
        using var unsigned = await http.GetAsync(new Uri(aws.S3Uri, "/bucket/key"));
        Assert.Equal(HttpStatusCode.Forbidden, unsigned.StatusCode);
    }

    [Fact]
    public async Task Signed_payload_is_hashed_and_a_body_over_the_limit_gets_413()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri, AssumeRole(aws.StsUri),
            "{ type: sigv4, service: s3, region: us-east-1, payload: signed, maxPayloadBytes: 1024 }"));
        using var client = proxy.Client();

        var body = Encoding.UTF8.GetBytes("quarterly numbers, signed");
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var put = await client.PutAsync(new Uri(proxy.ProxyUri, "/s3/bucket/numbers.csv"), content);
        Assert.True(put.StatusCode == HttpStatusCode.OK, proxy.Logs.Text);
        var verified = await VerifiedAsync(put, aws);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), verified.GetProperty("contentSha256").GetString());
        Assert.Equal(body.Length, verified.GetProperty("bodyLength").GetInt32());
        Assert.Contains("content-type", verified.GetProperty("signedHeaders").EnumerateArray().Select(h => h.GetString()));

        // Chunked (no Content-Length) is read and hashed the same way.
        using var chunked = new StreamContent(new MemoryStream(body));
        using var chunkedPut = await client.PutAsync(new Uri(proxy.ProxyUri, "/s3/bucket/chunked.csv"), chunked);
        await VerifiedAsync(chunkedPut, aws);

        using var large = new ByteArrayContent(new byte[4096]);
        using var tooLarge = await client.PutAsync(new Uri(proxy.ProxyUri, "/s3/bucket/large.bin"), large);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal("application/problem+json", tooLarge.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await tooLarge.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("payload_too_large", problem.GetProperty("reason").GetString());
        Assert.Equal(2, aws.Output.Split('\n').Count(l => l.StartsWith("s3 PUT verified", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Web_identity_token_is_read_from_its_file_and_a_replaced_token_is_used()
    {
        var tokenPath = Path.Combine(_pki.Directory, "web-identity-token");
        await File.WriteAllTextAsync(tokenPath, "not-an-accepted-token");
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory, webIdentityTokens: ["eyJ.projected-token.sig"]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri,
            $"    provider: aws-sts-web-identity\n    roleArn: {RoleArn}\n    stsEndpoint: {aws.StsUri}\n    tokenFile: web-identity-token\n    roleSessionName: payments@example.org"));
        using var client = proxy.Client();

        using var refused = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/bucket/a"));
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("credential_unavailable", problem.GetProperty("reason").GetString());
        Assert.Contains("InvalidIdentityToken", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        await File.WriteAllTextAsync(tokenPath, "eyJ.projected-token.sig\n");
        using var accepted = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/bucket/b"));
        var verified = await VerifiedAsync(accepted, aws);
        var issued = Assert.Single(aws.Issued);
        Assert.Equal("AssumeRoleWithWebIdentity", issued.GetProperty("action").GetString());
        Assert.Equal("payments@example.org", issued.GetProperty("roleSessionName").GetString());
        Assert.True(verified.GetProperty("securityTokenMatches").GetBoolean());
        AssertNoSecretsIn(proxy.Logs.Text + proxy.Decisions.Text + problem, issued);
    }

    [Fact]
    public async Task Sts_down_with_nothing_cached_gives_503_naming_the_credential_and_no_upstream_call()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory, stsMode: "fail500");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri, AssumeRole(aws.StsUri)));
        using var client = proxy.Client();

        using var failing = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/bucket/a"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failing.StatusCode);
        Assert.Equal("application/problem+json", failing.Content.Headers.ContentType?.MediaType);
        var body = await failing.Content.ReadAsStringAsync();
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("credential_issuer_unavailable", problem.GetProperty("reason").GetString());
        Assert.Equal("aws", problem.GetProperty("credential").GetString());

        await aws.SetStsModeAsync("deny");
        using var denied = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/bucket/b"));
        Assert.Equal(HttpStatusCode.BadGateway, denied.StatusCode);
        var deniedBody = await denied.Content.ReadAsStringAsync();
        Assert.Contains("AccessDenied", deniedBody, StringComparison.Ordinal);

        Assert.DoesNotContain("s3 ", aws.Output, StringComparison.Ordinal);
        foreach (var text in new[] { body, deniedBody, proxy.Logs.Text, proxy.Decisions.Text })
        {
            Assert.DoesNotContain(AwsTestServer.BaseSecretAccessKey, text, StringComparison.Ordinal);
        }

        // STS unreachable altogether (nothing listens) is an outage too.
        var closed = new Uri("http://127.0.0.1:1/");
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, aws.S3Uri, AssumeRole(closed))));
        using var unreachable = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/bucket/c"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unreachable.StatusCode);
        Assert.Contains("aws", await unreachable.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Static_keys_sign_too_and_are_flagged_static()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri,
            "    provider: aws-static\n    accessKeyIdFile: aws-access-key-id\n    secretAccessKeyFile: aws-secret-access-key"));
        using var client = proxy.Client();

        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/bucket/static"));
        var verified = await VerifiedAsync(response, aws);
        Assert.Equal(AwsTestServer.BaseAccessKeyId, verified.GetProperty("accessKeyId").GetString());
        Assert.False(verified.GetProperty("sessionCredentials").GetBoolean());
        Assert.DoesNotContain("x-amz-security-token", verified.GetProperty("headerNames").EnumerateArray().Select(h => h.GetString()));
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("route").GetString() == "s3");
        Assert.True(record.GetProperty("credentialStatic").GetBoolean());
        Assert.DoesNotContain(AwsTestServer.BaseSecretAccessKey, proxy.Logs.Text + proxy.Decisions.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Services_other_than_s3_get_a_signed_payload_and_a_double_encoded_path()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri,
            "    provider: aws-static\n    accessKeyIdFile: aws-access-key-id\n    secretAccessKeyFile: aws-secret-access-key",
            "{ type: sigv4, service: execute-api, region: eu-west-1 }"));
        using var client = proxy.Client();
        using var content = new StringContent("{\"amount\":42}", Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri(proxy.ProxyUri, "/s3/prod/orders/caf%C3%A9%20bar?sort=desc"), content);
        var verified = await VerifiedAsync(response, aws);
        Assert.Equal("execute-api", verified.GetProperty("service").GetString());
        Assert.Equal("eu-west-1", verified.GetProperty("region").GetString());
        Assert.Equal("/prod/orders/caf%C3%A9%20bar?sort=desc", verified.GetProperty("url").GetString());
        // Signed payload: no x-amz-content-sha256 header needed, the verifier hashed the body itself.
        Assert.Equal(JsonValueKind.Null, verified.GetProperty("contentSha256").ValueKind);
        Assert.Equal(13, verified.GetProperty("bodyLength").GetInt32());
    }

    [Theory]
    [InlineData("/s3/bucket/caf%C3%A9%20menu.txt?acl", 200)]
    [InlineData("/s3/bucket/odd%FFbyte?q=%zz&x=a+b&=&&k=1&k=0&emoji=%F0%9F%98%80", 200)]
    [InlineData("/s3/bucket/key!$'()*,=:@~?q=!$'()*,;:@/", 200)]
    [InlineData("/s3/bucket/a%2Fb", 400)]
    [InlineData("/s3/bucket/../../etc/passwd", 400)]
    public async Task Odd_paths_and_queries_are_signed_as_sent_or_refused_cleanly(string target, int expected)
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.S3Uri,
            "    provider: aws-static\n    accessKeyIdFile: aws-access-key-id\n    secretAccessKeyFile: aws-secret-access-key"));
        var svid = _pki.WritePem(_pki.Svid(), "aws-client");
        var curl = await Curl.RunAsync([.. Curl.Mtls(_pki, svid), "--path-as-is", "-g", proxy.ProxyUri.ToString().TrimEnd('/') + target]);
        Assert.True(curl.Status == expected, $"{curl.Status}: {curl.Body}{curl.StdErr}\n{aws.Output}");
        if (expected == 200)
        {
            Assert.True(JsonDocument.Parse(curl.Body).RootElement.GetProperty("verified").GetBoolean());
        }
        else
        {
            Assert.Contains("\"reason\"", curl.Body, StringComparison.Ordinal);
        }
    }

    private static void AssertNoSecretsIn(string text, JsonElement issued)
    {
        Assert.DoesNotContain(AwsTestServer.BaseSecretAccessKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain(issued.GetProperty("secretAccessKey").GetString()!, text, StringComparison.Ordinal);
        Assert.DoesNotContain(issued.GetProperty("sessionToken").GetString()!, text, StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
