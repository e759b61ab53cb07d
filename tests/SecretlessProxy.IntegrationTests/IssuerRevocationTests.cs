using System.Net;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Audit;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Revocation that reaches the issuer (issue 16, section 2): an OAuth2 token the proxy stops handing out is revoked at
/// the real oidc-provider (RFC 7009), which then reports it inactive (RFC 7662); an issuer whose revocation endpoint
/// is down gives a failure record and never holds up the revocation in the proxy; static secrets say they cannot be.
/// </summary>
public sealed class IssuerRevocationTests : IDisposable
{
    private const string ClientSecret = "canary-revocation-secret-0b7e44";

    private readonly TestPki _pki = new();

    private static object Client(string auth = "client_secret_basic") =>
        new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = auth };

    private static string Config(Uri upstream, string credential) =>
        ProxyUnderTest.DefaultConfig(upstream, extraCredentials: $"  oauth:\n{credential}")
            .Replace("Metadata: { Credential: github }\n    denied", "Metadata: { Credential: oauth }\n    denied", StringComparison.Ordinal);

    private static string Token(ProxyUnderTest proxy, string path) =>
        proxy.Upstream.Requests.Single(r => r.PathAndQuery == path).Headers["Authorization"]["Bearer ".Length..];

    [Fact]
    public async Task An_admin_revocation_revokes_the_token_at_the_issuer_which_then_reports_it_inactive()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, [Client()]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u,
            $"    provider: oauth2-client-credentials\n    issuer: {oidc.Issuer}\n    clientId: proxy\n    clientSecretFile: client-secret"));
        using var client = proxy.Client();
        using var admin = new AdminClient(proxy);

        using var first = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/before"));
        Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync() + "\n" + oidc.Output);
        var token = Token(proxy, "/allowed/before");
        Assert.True(await oidc.IsActiveAsync(token, "proxy", ClientSecret));

        var (status, _) = await admin.SendAsync(HttpMethod.Post, "/credentials/oauth/revoke");
        Assert.Equal(200, status);
        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialRevokedAtIssuer);
        Assert.Equal("oauth", revoked.GetProperty("credential").GetString());
        Assert.Equal("oauth2-client-credentials", revoked.GetProperty("provider").GetString());
        Assert.Equal("revoked", revoked.GetProperty("release").GetString());
        Assert.Equal(new Uri(oidc.Issuer, "/token/revocation").ToString(), revoked.GetProperty("issuer").GetString());
        Assert.False(await oidc.IsActiveAsync(token, "proxy", ClientSecret));

        // The proxy fetched a new one; neither token nor the client secret is in the trail or the logs.
        using var after = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/after"));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
        var second = Token(proxy, "/allowed/after");
        Assert.NotEqual(token, second);
        Assert.True(await oidc.IsActiveAsync(second, "proxy", ClientSecret));
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text })
        {
            Assert.DoesNotContain(ClientSecret, text, StringComparison.Ordinal);
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(second, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_token_dropped_from_the_cache_unused_is_revoked_at_the_issuer_too()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        // maxTtl cuts the cached lifetime to 2 s while the issuer's token lives 300 s: it expires unused in the cache.
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, [Client("client_secret_post")]);
        // The proxy's clock is the test's: the periodic cache sweep (every minute) runs when the test moves time.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u,
            $"    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    revocationUrl: {new Uri(oidc.Issuer, "/token/revocation")}\n    clientId: proxy\n    clientAuth: client_secret_post\n    clientSecretFile: client-secret\n    maxTtl: \"00:00:02\""), time: time);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/once"))).StatusCode);
        var token = Token(proxy, "/allowed/once");
        Assert.True(await oidc.IsActiveAsync(token, "proxy", ClientSecret));
        time.Advance(TimeSpan.FromSeconds(61));

        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialRevokedAtIssuer);
        Assert.Equal("expired", revoked.GetProperty("release").GetString());
        Assert.False(await oidc.IsActiveAsync(token, "proxy", ClientSecret));
    }

    [Fact]
    public async Task A_revocation_endpoint_that_is_down_gives_a_failure_record_and_never_blocks_the_revocation()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, [Client()], revocationDown: true);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u,
            $"    provider: oauth2-client-credentials\n    issuer: {oidc.Issuer}\n    clientId: proxy\n    clientSecretFile: client-secret"));
        using var client = proxy.Client();
        using var admin = new AdminClient(proxy);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/before"))).StatusCode);
        var token = Token(proxy, "/allowed/before");

        var (status, _) = await admin.SendAsync(HttpMethod.Post, "/credentials/oauth/revoke");
        Assert.Equal(200, status);
        // Revoked in the proxy at once: the next call gets a new token while the issuer is still being retried.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/after"))).StatusCode);
        Assert.NotEqual(token, Token(proxy, "/allowed/after"));

        var failed = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialIssuerRevocationFailed);
        Assert.Equal("oauth", failed.GetProperty("credential").GetString());
        Assert.Contains("HTTP 503", failed.GetProperty("reason").GetString(), StringComparison.Ordinal);
        // Tried three times (two retries on a 5xx), then given up; the token is still live at the issuer, as the record says.
        await Eventually.Until(() => oidc.RevocationsRefused >= 3, "the issuer saw three revocation attempts", lastSeen: () => oidc.Output);
        Assert.Equal(3, oidc.RevocationsRefused);
        Assert.True(await oidc.IsActiveAsync(token, "proxy", ClientSecret));
        Assert.DoesNotContain(token, proxy.Decisions.Text + proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ClientSecret, proxy.Decisions.Text + proxy.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_static_secret_says_it_cannot_be_revoked_at_its_issuer()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        using var admin = new AdminClient(proxy);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"))).StatusCode);
        Assert.Equal(200, (await admin.SendAsync(HttpMethod.Post, "/credentials/github/revoke")).Status);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialNotRevocableAtIssuer);
        Assert.Equal("github", record.GetProperty("credential").GetString());
        Assert.Contains("static secret", record.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Decisions.Text + proxy.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AWS_STS_session_credentials_say_AWS_cannot_revoke_them_one_by_one()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "aws-access-key-id"), AwsTestServer.BaseAccessKeyId + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "aws-secret-access-key"), AwsTestServer.BaseSecretAccessKey + "\n");
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u,
                extraCredentials: $"  aws:\n    provider: aws-sts-assume-role\n    roleArn: arn:aws:iam::123456789012:role/reports-reader\n    region: us-east-1\n    stsEndpoint: {aws.StsUri}\n" +
                    "    accessKeyIdFile: aws-access-key-id\n    secretAccessKeyFile: aws-secret-access-key\n    inject: { type: sigv4, service: s3, region: us-east-1 }",
                extraPolicies: "  - name: payments-uses-s3\n    allow: [payments]\n    routes: [s3]",
                extraRoutes: "    s3:\n      ClusterId: s3\n      Match: { Path: \"/s3/{**rest}\" }\n      Metadata: { Credential: aws }\n      Transforms: [ { PathRemovePrefix: /s3 } ]")
            .Replace("  Clusters:\n", $"  Clusters:\n    s3:\n      Destinations:\n        d1: {{ Address: \"{aws.S3Uri}\" }}\n", StringComparison.Ordinal));
        using var client = proxy.Client();
        using var first = await client.GetAsync(new Uri(proxy.ProxyUri, "/s3/reports/a.csv"));
        Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync() + "\n" + aws.Output);
        using var admin = new AdminClient(proxy);
        Assert.Equal(200, (await admin.SendAsync(HttpMethod.Post, "/credentials/aws/revoke")).Status);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialNotRevocableAtIssuer);
        Assert.Equal("aws", record.GetProperty("credential").GetString());
        Assert.Equal("AWS STS", record.GetProperty("issuer").GetString());
        Assert.Contains("cannot revoke one set of session credentials", record.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain(AwsTestServer.BaseSecretAccessKey, proxy.Decisions.Text + proxy.Logs.Text, StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
