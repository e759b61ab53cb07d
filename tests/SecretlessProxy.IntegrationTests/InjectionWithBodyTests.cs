using System.Net;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Header injection on requests that carry a body (the outgoing message then has content headers too).</summary>
public sealed class InjectionWithBodyTests : IDisposable
{
    private readonly TestPki _pki = new();

    [Fact]
    public async Task A_post_with_a_body_gets_the_credential_injected()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        using var content = new StringContent("{\"report\":1}", System.Text.Encoding.UTF8, "application/json");
        using var response = await client.PostAsync(new Uri(proxy.ProxyUri, "/allowed/with-body"), content);
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, proxy.Upstream.Requests.Single().Headers["Authorization"]);
    }

    public void Dispose() => _pki.Dispose();
}
