using System.Net;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// <c>provider: aws-secrets-manager</c> end to end against the Secrets Manager emulator in aws/server.mjs, which
/// recomputes every SigV4 signature with AWS's own @smithy/signature-v4 and answers in AWS's JSON shapes; AWS's
/// own client (@aws-sdk/client-secrets-manager) drives the same emulator in the same run to show it is faithful.
/// </summary>
public sealed class AwsSecretsManagerTests : IDisposable
{
    private const string SecretName = "prod/billing";
    private const string FirstKey = "canary-sm-api-key-1-4f2a9c";
    private const string SecondKey = "canary-sm-api-key-2-b71e03";
    private const string PendingKey = "canary-sm-api-key-pending-5d8e";

    private readonly TestPki _pki = new();

    private static string Json(string apiKey) => JsonSerializer.Serialize(new { apiKey, user = "billing" });

    private async Task WriteBaseKeysAsync()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "aws-access-key-id"), AwsTestServer.BaseAccessKeyId + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "aws-secret-access-key"), AwsTestServer.BaseSecretAccessKey + "\n");
    }

    private const string StaticAuth = "{ provider: aws-static, accessKeyIdFile: aws-access-key-id, secretAccessKeyFile: aws-secret-access-key }";

    /// <summary>Credential <c>sm</c> on route <c>billing</c>.</summary>
    private static string Config(Uri upstream, Uri endpoint, string secretId, string extra = "", string auth = StaticAuth) =>
        StoreProviderChecks.Config(upstream, "sm",
            $"    provider: aws-secrets-manager\n    secretId: {secretId}\n    region: us-east-1\n    endpoint: {endpoint}\n    jsonKey: apiKey\n" +
            $"    timeout: \"00:00:02\"\n    auth: {auth}\n{extra}", route: "billing");

    [Fact]
    public async Task Aws_sdk_reads_the_emulator_and_gets_the_errors_aws_gives()
    {
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory, secrets: [AwsTestServer.Secret(SecretName, Json(FirstKey))]);
        await aws.PutSecretVersionAsync(SecretName, Json(PendingKey), pending: true);

        var current = await aws.SdkGetSecretValueAsync(AwsTestServer.BaseAccessKeyId, AwsTestServer.BaseSecretAccessKey, SecretName);
        Assert.True(current.GetProperty("ok").GetBoolean(), current.ToString());
        Assert.Equal(Json(FirstKey), current.GetProperty("secretString").GetString());
        Assert.Contains("AWSCURRENT", current.GetProperty("stages").EnumerateArray().Select(s => s.GetString()));

        var pending = await aws.SdkGetSecretValueAsync(AwsTestServer.BaseAccessKeyId, AwsTestServer.BaseSecretAccessKey, SecretName, "AWSPENDING");
        Assert.Equal(Json(PendingKey), pending.GetProperty("secretString").GetString());
        Assert.NotEqual(current.GetProperty("versionId").GetString(), pending.GetProperty("versionId").GetString());

        // The emulator refuses what AWS refuses, in the shape the SDK turns into its named exceptions.
        var wrongSecret = await aws.SdkGetSecretValueAsync(AwsTestServer.BaseAccessKeyId, "not-the-secret-key", SecretName);
        Assert.Equal("InvalidSignatureException", wrongSecret.GetProperty("name").GetString());
        var unknownKey = await aws.SdkGetSecretValueAsync("AKIDUNKNOWN000000000", AwsTestServer.BaseSecretAccessKey, SecretName);
        Assert.Equal("UnrecognizedClientException", unknownKey.GetProperty("name").GetString());
        var missing = await aws.SdkGetSecretValueAsync(AwsTestServer.BaseAccessKeyId, AwsTestServer.BaseSecretAccessKey, "prod/nothing-here");
        Assert.Equal("ResourceNotFoundException", missing.GetProperty("name").GetString());
        Assert.Equal(400, missing.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task A_json_key_of_the_secret_is_injected_and_a_rotation_replaces_it()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory, secrets: [AwsTestServer.Secret(SecretName, Json(FirstKey))]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.SecretsManagerUri, SecretName, "    ttl: \"00:00:01\"\n"));
        using var client = proxy.Client();

        Assert.Equal(FirstKey, await StoreProviderChecks.InjectedAsync(proxy, client, "/billing/a"));
        Assert.Contains("sm GetSecretValue prod/billing", aws.Output, StringComparison.Ordinal);

        var rotated = await aws.PutSecretVersionAsync(SecretName, Json(SecondKey));
        string? seen = null;
        await Eventually.Until(async () => (seen = await StoreProviderChecks.InjectedAsync(proxy, client, "/billing/b")) == SecondKey, "the rotated value is injected", lastSeen: () => seen == FirstKey ? "still the first value" : "another value");
        await Eventually.Until(() => proxy.Logs.Text.Contains(rotated, StringComparison.Ordinal), "the rotation is logged with the new version id");
        Assert.Contains("rotated", proxy.Logs.Text, StringComparison.Ordinal);

        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("route").GetString() == "billing");
        Assert.True(record.GetProperty("credentialStatic").GetBoolean());
        StoreProviderChecks.AssertNoCanary([FirstKey, SecondKey, AwsTestServer.BaseSecretAccessKey], proxy.Logs.Text, proxy.Decisions.Text);
    }

    [Fact]
    public async Task Assume_role_credentials_sign_and_the_pending_stage_is_read()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory, secrets: [AwsTestServer.Secret(SecretName, Json(FirstKey))]);
        await aws.PutSecretVersionAsync(SecretName, Json(PendingKey), pending: true);
        var auth = $"{{ provider: aws-sts-assume-role, roleArn: \"arn:aws:iam::123456789012:role/secrets-reader\", region: us-east-1, stsEndpoint: \"{aws.StsUri}\", " +
            "accessKeyIdFile: aws-access-key-id, secretAccessKeyFile: aws-secret-access-key }";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.SecretsManagerUri, SecretName, "    versionStage: AWSPENDING\n", auth));
        using var client = proxy.Client();

        Assert.Equal(PendingKey, await StoreProviderChecks.InjectedAsync(proxy, client, "/billing/pending"));
        var issued = Assert.Single(await aws.IssuedAsync(1));
        // Signed with the session credentials STS issued (the emulator checked the session token too).
        Assert.Contains($"by {issued.GetProperty("accessKeyId").GetString()}", aws.Output, StringComparison.Ordinal);
        StoreProviderChecks.AssertNoCanary([PendingKey, issued.GetProperty("secretAccessKey").GetString()!, issued.GetProperty("sessionToken").GetString()!], proxy.Logs.Text, proxy.Decisions.Text);
    }

    [Fact]
    public async Task Secrets_manager_down_serves_the_cached_value_and_gives_503_with_nothing_cached()
    {
        await WriteBaseKeysAsync();
        await using var aws = await AwsTestServer.StartAsync(_pki.Directory, secrets: [AwsTestServer.Secret(SecretName, Json(FirstKey))]);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, aws.SecretsManagerUri, SecretName));
        using var client = proxy.Client();
        Assert.Equal(FirstKey, await StoreProviderChecks.InjectedAsync(proxy, client, "/billing/cached"));

        await aws.SetSecretsManagerModeAsync("fail500");
        // Cached (ttl 5 minutes): still served while the store is down.
        Assert.Equal(FirstKey, await StoreProviderChecks.InjectedAsync(proxy, client, "/billing/still"));

        // A fresh config (nothing cached) while the store is down: 503, naming the credential, no upstream call.
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, aws.SecretsManagerUri, SecretName, "    ttl: \"00:10:00\"\n")));
        var body = await StoreProviderChecks.AssertIssuerUnavailableAsync(proxy, client, "/billing/down", "sm");

        // A secret that does not exist is a refusal (502), carrying AWS's error code.
        await aws.SetSecretsManagerModeAsync("ok");
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, aws.SecretsManagerUri, "prod/nothing-here")));
        using var missing = await client.GetAsync(new Uri(proxy.ProxyUri, "/billing/missing"));
        var missingBody = await missing.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadGateway, missing.StatusCode);
        Assert.Contains("ResourceNotFoundException", missingBody, StringComparison.Ordinal);

        StoreProviderChecks.AssertNoCanary([FirstKey, AwsTestServer.BaseSecretAccessKey], body, missingBody, proxy.Logs.Text, proxy.Decisions.Text);
    }

    public void Dispose() => _pki.Dispose();
}
