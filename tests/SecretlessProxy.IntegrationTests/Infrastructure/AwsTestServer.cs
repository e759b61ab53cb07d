using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// The Node AWS stand-ins (tests/SecretlessProxy.IntegrationTests/aws/server.mjs) on 127.0.0.1: an S3-like upstream
/// that verifies SigV4 with AWS's own <c>@smithy/signature-v4</c>, and a small STS. Started per test, killed after.
/// </summary>
public sealed class AwsTestServer : IAsyncDisposable
{
    public const string BaseAccessKeyId = "AKIDEXAMPLEBASE00001";
    public const string BaseSecretAccessKey = "canary-aws-base-secret-9b41e7d0c3";

    private readonly NodeProcess _node;

    private AwsTestServer(NodeProcess node) => _node = node;

    public Uri StsUri { get; private set; } = null!;

    public Uri S3Uri { get; private set; } = null!;

    public string Output => _node.Output;

    /// <summary>Session credentials the STS issued, in order (test-only: read from the server's stdout).</summary>
    public IReadOnlyList<JsonElement> Issued => _node.Lines.Where(l => l.StartsWith("issued ", StringComparison.Ordinal))
        .Select(l => JsonDocument.Parse(l["issued ".Length..]).RootElement).ToList();

    /// <summary>
    /// Waits until at least <paramref name="atLeast"/> credentials were issued (failing when they are not), then a
    /// little longer so an extra one would be seen too.
    /// </summary>
    public async Task<IReadOnlyList<JsonElement>> IssuedAsync(int atLeast)
    {
        await Eventually.Until(() => Issued.Count >= atLeast, $"the STS has issued {atLeast} credential(s)", lastSeen: () => "output:\n" + Output);
        // Not a condition to wait for: an extra issuance that was wrongly requested has no moment to wait for.
        await Task.Delay(200);
        return Issued;
    }

    public Uri SecretsManagerUri { get; private set; } = null!;

    public static async Task<AwsTestServer> StartAsync(string workDir, string[]? webIdentityTokens = null, string stsMode = "ok", object[]? secrets = null)
    {
        NodeProcess.RequirePackage("aws", "@smithy/signature-v4");
        var configPath = Path.Combine(workDir, $"aws-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new
        {
            baseKeys = new[] { new { accessKeyId = BaseAccessKeyId, secretAccessKey = BaseSecretAccessKey } },
            webIdentityTokens = webIdentityTokens ?? [],
            stsMode,
            secrets = secrets ?? [],
        }));
        var server = new AwsTestServer(await NodeProcess.StartServerAsync("aws", "server.mjs", configPath));
        var ports = server._node.ListeningPairs;
        server.StsUri = new Uri($"http://127.0.0.1:{ports["sts"]}/");
        server.S3Uri = new Uri($"http://127.0.0.1:{ports["s3"]}/");
        server.SecretsManagerUri = new Uri($"http://127.0.0.1:{ports["secretsmanager"]}/");
        return server;
    }

    /// <summary>Switches the STS: ok, fail500 (answers 500) or deny (answers 403 AccessDenied).</summary>
    public async Task SetStsModeAsync(string mode)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(StsUri, "/__mode"), new StringContent(mode));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>A secret for <c>secrets</c>: one version labelled AWSCURRENT.</summary>
    public static object Secret(string name, string secretString) => new { name, versions = new[] { new { stages = new[] { "AWSCURRENT" }, secretString } } };

    /// <summary>Rotates a secret (a new version takes AWSCURRENT) or stages one (AWSPENDING); returns the new VersionId.</summary>
    public async Task<string> PutSecretVersionAsync(string name, string secretString, bool pending = false)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(SecretsManagerUri, pending ? "/__stage" : "/__rotate"), new StringContent(JsonSerializer.Serialize(new { name, secretString })));
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("versionId").GetString()!;
    }

    /// <summary>Switches Secrets Manager: ok, or fail500 (answers 500 InternalServiceError).</summary>
    public async Task SetSecretsManagerModeAsync(string mode)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(SecretsManagerUri, "/__mode"), new StringContent(mode));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>
    /// AWS's own client (<c>@aws-sdk/client-secrets-manager</c>, in aws/secretsmanager-client.mjs) calls GetSecretValue
    /// on this server; returns its one-line JSON outcome.
    /// </summary>
    public async Task<JsonElement> SdkGetSecretValueAsync(string accessKeyId, string secretAccessKey, string secretId, string? versionStage = null)
    {
        return await NodeProcess.RunClientAsync("aws", "the SDK client", "secretsmanager-client.mjs",
            SecretsManagerUri.ToString().TrimEnd('/'), accessKeyId, secretAccessKey, secretId, versionStage ?? "");
    }

    public ValueTask DisposeAsync() => _node.DisposeAsync();
}
