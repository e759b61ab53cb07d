using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>Calls the admin API of a proxy under test (over its admin socket, as uid 0) and parses JSON answers.</summary>
public sealed class AdminClient(ProxyUnderTest proxy) : IDisposable
{
    private readonly HttpClient _http = proxy.AdminSocketClient();

    public async Task<(int Status, JsonElement Body)> SendAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(proxy.AdminUri, path));
        if (body is not null)
        {
            request.Content = body is JsonNode node ? new StringContent(node.ToJsonString(), System.Text.Encoding.UTF8, "application/json") : JsonContent.Create(body);
        }
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public Task<(int Status, JsonElement Body)> GetAsync(string path) => SendAsync(HttpMethod.Get, path);

    public Task<(int Status, JsonElement Body)> PostAsync(string path, object body) => SendAsync(HttpMethod.Post, path, body);

    public void Dispose() => _http.Dispose();
}
