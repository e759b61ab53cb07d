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

    public static async Task<AwsTestServer> StartAsync(string workDir, string[]? webIdentityTokens = null, string stsMode = "ok")
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        var dir = Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", "aws");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "@smithy", "signature-v4")),
            $"@smithy/signature-v4 is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        var configPath = Path.Combine(workDir, $"aws-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new
        {
            baseKeys = new[] { new { accessKeyId = BaseAccessKeyId, secretAccessKey = BaseSecretAccessKey } },
            webIdentityTokens = webIdentityTokens ?? [],
            stsMode,
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
        return server;
    }

    /// <summary>Switches the STS: ok, fail500 (answers 500) or deny (answers 403 AccessDenied).</summary>
    public async Task SetStsModeAsync(string mode)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(StsUri, "/__mode"), new StringContent(mode));
        response.EnsureSuccessStatusCode();
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
