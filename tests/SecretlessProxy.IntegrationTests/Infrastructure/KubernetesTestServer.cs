using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// The Node emulator of the Kubernetes API's Secret endpoints (tests/SecretlessProxy.IntegrationTests/kubernetes/server.mjs)
/// on 127.0.0.1: GET and watch, bearer tokens and a per-Secret allow list checked. Started per test, killed after.
/// </summary>
public sealed class KubernetesTestServer : IAsyncDisposable
{
    private readonly NodeProcess _node;

    private KubernetesTestServer(NodeProcess node) => _node = node;

    public Uri ApiUri { get; private set; } = null!;

    public string Output => _node.Output;

    /// <param name="secrets">(namespace, name, data) of the Secrets that exist at the start.</param>
    public static async Task<KubernetesTestServer> StartAsync(string workDir, string[] tokens, string[] allowed, params (string Namespace, string Name, Dictionary<string, string> Data)[] secrets)
    {
        NodeProcess.RequirePackage("kubernetes", "@kubernetes/client-node");
        var configPath = Path.Combine(workDir, $"k8s-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(new
        {
            tokens,
            allowed,
            secrets = secrets.Select(s => new { @namespace = s.Namespace, name = s.Name, data = s.Data }),
        }));
        var server = new KubernetesTestServer(await NodeProcess.StartServerAsync("kubernetes", "server.mjs", configPath));
        server.ApiUri = new Uri($"http://127.0.0.1:{server._node.Listening.Split('=')[1]}/");
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
        var arguments = new List<string> { ApiUri.ToString().TrimEnd('/'), token, @namespace, name, key };
        if (setTo is not null)
        {
            arguments.Add(new Uri(ApiUri, "/__set").ToString());
            arguments.Add(JsonSerializer.Serialize(new { @namespace, name, data = setTo }));
        }
        return await NodeProcess.RunClientAsync("kubernetes", "the Kubernetes client", "client.mjs", [.. arguments]);
    }

    public ValueTask DisposeAsync() => _node.DisposeAsync();
}
