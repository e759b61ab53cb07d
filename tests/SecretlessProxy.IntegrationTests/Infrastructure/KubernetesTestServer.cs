using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// The Node emulator of the Kubernetes API's Secret endpoints (tests/SecretlessProxy.IntegrationTests/kubernetes/server.mjs)
/// on 127.0.0.1: GET and watch, bearer tokens and a per-Secret allow list checked. Started per test, killed after.
/// </summary>
public sealed class KubernetesTestServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private KubernetesTestServer(Process process) => _process = process;

    public Uri ApiUri { get; private set; } = null!;

    public string Output => string.Join("\n", _lines);

    private static string Dir
    {
        get
        {
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
            {
                root = root.Parent;
            }
            return Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", "kubernetes");
        }
    }

    /// <param name="secrets">(namespace, name, data) of the Secrets that exist at the start.</param>
    public static async Task<KubernetesTestServer> StartAsync(string workDir, string[] tokens, string[] allowed, params (string Namespace, string Name, Dictionary<string, string> Data)[] secrets)
    {
        var dir = Dir;
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "@kubernetes", "client-node")),
            $"@kubernetes/client-node is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        var configPath = Path.Combine(workDir, $"k8s-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new
        {
            tokens,
            allowed,
            secrets = secrets.Select(s => new { @namespace = s.Namespace, name = s.Name, data = s.Data }),
        }));
        var start = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("server.mjs");
        start.ArgumentList.Add(configPath);
        var process = Process.Start(start)!;
        var server = new KubernetesTestServer(process);
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
        server.ApiUri = new Uri($"http://127.0.0.1:{line.Split('=')[1]}/");
        return server;
    }

    /// <summary>Creates or replaces a Secret; open watches get the event.</summary>
    public async Task SetSecretAsync(string @namespace, string name, Dictionary<string, string> data)
    {
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(ApiUri, "/__set"), new StringContent(JsonSerializer.Serialize(new { @namespace, name, data })));
        response.EnsureSuccessStatusCode();
    }

    /// <summary>API requests so far: get, watch, refused.</summary>
    public async Task<JsonElement> RequestCountsAsync()
    {
        using var http = new HttpClient();
        return JsonDocument.Parse(await http.GetStringAsync(new Uri(ApiUri, "/__requests"))).RootElement;
    }

    /// <summary>
    /// Kubernetes' own client (<c>@kubernetes/client-node</c>, kubernetes/client.mjs) reads the Secret; with
    /// <paramref name="setTo"/>, it then watches it, the Secret is changed once the watch is open, and the event is reported.
    /// </summary>
    public async Task<JsonElement> ClientReadAsync(string token, string @namespace, string name, string key, Dictionary<string, string>? setTo = null)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = Dir, RedirectStandardOutput = true, RedirectStandardError = true };
        var arguments = new List<string> { "--no-warnings", "client.mjs", ApiUri.ToString().TrimEnd('/'), token, @namespace, name, key };
        if (setTo is not null)
        {
            arguments.Add(new Uri(ApiUri, "/__set").ToString());
            arguments.Add(JsonSerializer.Serialize(new { @namespace, name, data = setTo }));
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var text = (await output).Trim();
        Assert.True(text.StartsWith('{'), $"the Kubernetes client printed no result: {text}\n{await errors}");
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
