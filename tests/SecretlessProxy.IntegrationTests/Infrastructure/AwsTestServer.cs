using System.Collections.Concurrent;
using System.Diagnostics;
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

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private AwsTestServer(Process process) => _process = process;

    /// <summary>tests/SecretlessProxy.IntegrationTests/aws in the source tree.</summary>
    private static string Dir
    {
        get
        {
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
            {
                root = root.Parent;
            }
            return Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", "aws");
        }
    }

    public Uri StsUri { get; private set; } = null!;

    public Uri S3Uri { get; private set; } = null!;

    public string Output => string.Join("\n", _lines);

    /// <summary>Session credentials the STS issued, in order (test-only: read from the server's stdout).</summary>
    public IReadOnlyList<JsonElement> Issued => _lines.Where(l => l.StartsWith("issued ", StringComparison.Ordinal))
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
        var dir = Dir;
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "@smithy", "signature-v4")),
            $"@smithy/signature-v4 is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        var configPath = Path.Combine(workDir, $"aws-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new
        {
            baseKeys = new[] { new { accessKeyId = BaseAccessKeyId, secretAccessKey = BaseSecretAccessKey } },
            webIdentityTokens = webIdentityTokens ?? [],
            stsMode,
            secrets = secrets ?? [],
        }));
        var start = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("server.mjs");
        start.ArgumentList.Add(configPath);
        var process = Process.Start(start)!;
        var server = new AwsTestServer(process);
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            if (e.Data.StartsWith("listening ", StringComparison.Ordinal))
            {
                ready.TrySetResult(e.Data);
            }
            else
            {
                server._lines.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                server._lines.Enqueue("stderr " + e.Data);
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var line = await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var ports = line["listening ".Length..].Split(' ').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
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
        var start = new ProcessStartInfo("node") { WorkingDirectory = Dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "--no-warnings", "secretsmanager-client.mjs", SecretsManagerUri.ToString().TrimEnd('/'), accessKeyId, secretAccessKey, secretId, versionStage ?? "" })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var text = (await output).Trim();
        Assert.True(text.StartsWith('{'), $"the SDK client printed no result: {text}\n{await errors}");
        return JsonDocument.Parse(text).RootElement;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
