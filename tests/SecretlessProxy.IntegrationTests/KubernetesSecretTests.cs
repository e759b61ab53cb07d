using System.Net;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// <c>provider: kubernetes-secret</c> end to end against the emulator of the Kubernetes API's Secret endpoints in
/// kubernetes/server.mjs (bearer token and per-Secret permission checked, GET and watch); Kubernetes' own
/// <c>@kubernetes/client-node</c> drives the same emulator in the same run to show it is faithful.
/// </summary>
public sealed class KubernetesSecretTests : IDisposable
{
    private const string Token = "canary-k8s-sa-token-7c1d9e";
    private const string FirstValue = "canary-k8s-secret-1-a04f";
    private const string SecondValue = "canary-k8s-secret-2-e91b";

    private readonly TestPki _pki = new();

    private static Dictionary<string, string> Data(string token) => new() { ["token"] = token, ["username"] = "billing-bot" };

    private static string Config(Uri upstream, Uri api, string name = "billing") =>
        StoreProviderChecks.Config(upstream, "k8s",
            $"    provider: kubernetes-secret\n    namespace: payments\n    name: {name}\n    key: token\n    apiServer: \"{api}\"\n" +
            "    tokenFile: sa-token\n    timeout: \"00:00:02\"\n");

    [Fact]
    public async Task Kubernetes_client_reads_and_watches_the_emulator_and_is_refused_as_the_api_server_refuses()
    {
        await using var api = await KubernetesTestServer.StartAsync(_pki.Directory, [Token], ["payments/billing"], ("payments", "billing", Data(FirstValue)));

        var read = await api.ClientReadAsync(Token, "payments", "billing", "token");
        Assert.True(read.GetProperty("ok").GetBoolean(), read.ToString());
        Assert.Equal(FirstValue, read.GetProperty("value").GetString());

        var watched = await api.ClientReadAsync(Token, "payments", "billing", "token", setTo: Data(SecondValue));
        Assert.Equal("MODIFIED", watched.GetProperty("type").GetString());
        Assert.Equal(SecondValue, watched.GetProperty("watched").GetString());

        Assert.Equal(401, (await api.ClientReadAsync("not-a-token", "payments", "billing", "token")).GetProperty("code").GetInt32());
        Assert.Equal(403, (await api.ClientReadAsync(Token, "payments", "other", "token")).GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task A_secret_key_is_injected_and_a_change_applies_through_the_watch()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "sa-token"), Token + "\n");
        await using var api = await KubernetesTestServer.StartAsync(_pki.Directory, [Token], ["payments/billing"], ("payments", "billing", Data(FirstValue)));
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, api.ApiUri));
        using var client = proxy.Client();

        Assert.Equal(FirstValue, await StoreProviderChecks.InjectedAsync(proxy, client, "/k8s/a"));
        await Eventually.Until(() => api.Output.Contains("api watch payments/billing", StringComparison.Ordinal), "the proxy watches the Secret", lastSeen: () => api.Output);
        Assert.Equal(FirstValue, await StoreProviderChecks.InjectedAsync(proxy, client, "/k8s/b"));
        var before = await api.RequestCountsAsync();
        Assert.Equal(1, before.GetProperty("get").GetInt32());

        await api.SetSecretAsync("payments", "billing", Data(SecondValue));
        string? seen = null;
        await Eventually.Until(async () => (seen = await StoreProviderChecks.InjectedAsync(proxy, client, "/k8s/c")) == SecondValue, "the changed value is injected", lastSeen: () => seen == FirstValue ? "still the first value" : "another value");
        // Applied from the watch: no further GET (no polling).
        var after = await api.RequestCountsAsync();
        Assert.Equal(1, after.GetProperty("get").GetInt32());
        Assert.Contains("applied from the watch", proxy.Logs.Text, StringComparison.Ordinal);

        StoreProviderChecks.AssertNoCanary([FirstValue, SecondValue, Token], proxy.Logs.Text, proxy.Decisions.Text);
    }

    [Fact]
    public async Task A_refused_token_or_secret_gives_502_and_an_api_server_down_gives_503()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "sa-token"), "canary-not-accepted-token\n");
        await using var api = await KubernetesTestServer.StartAsync(_pki.Directory, [Token], ["payments/billing"], ("payments", "billing", Data(FirstValue)));
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, api.ApiUri));
        using var client = proxy.Client();

        using var unauthorized = await client.GetAsync(new Uri(proxy.ProxyUri, "/k8s/a"));
        var unauthorizedBody = await unauthorized.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadGateway, unauthorized.StatusCode);
        Assert.Contains("401", unauthorizedBody, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "sa-token"), Token + "\n");
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, api.ApiUri, name: "forbidden")));
        using var forbidden = await client.GetAsync(new Uri(proxy.ProxyUri, "/k8s/b"));
        Assert.Equal(HttpStatusCode.BadGateway, forbidden.StatusCode);
        Assert.Contains("403", await forbidden.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var closed = new Uri("http://127.0.0.1:1/");
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, closed)));
        var body = await StoreProviderChecks.AssertIssuerUnavailableAsync(proxy, client, "/k8s/c", "k8s");
        StoreProviderChecks.AssertNoCanary([Token, "canary-not-accepted-token"], unauthorizedBody, body, proxy.Logs.Text, proxy.Decisions.Text);
    }

    public void Dispose() => _pki.Dispose();
}
