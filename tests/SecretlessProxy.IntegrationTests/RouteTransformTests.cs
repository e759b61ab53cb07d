using System.Net;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>YARP's own route features (transforms) work beside injection; the policy decides on the request path.</summary>
public sealed class RouteTransformTests : IDisposable
{
    private readonly TestPki _pki = new();

    [Fact]
    public async Task Yarp_transforms_apply_and_the_credential_is_still_injected()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u,
            extraPolicies: "  - name: gh-reads\n    allow: [payments]\n    routes: [gh]\n    methods: [GET]\n    paths: [\"/gh/repos/**\"]",
            extraRoutes: "    gh:\n      ClusterId: upstream\n      Match: { Path: \"/gh/{**rest}\" }\n      Metadata: { Credential: github }\n" +
                         "      Transforms: [ { PathRemovePrefix: /gh }, { RequestHeader: X-Via, Set: secretless } ]"));
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/gh/repos/a?page=2"))).StatusCode);
        var received = Assert.Single(proxy.Upstream.Requests);
        Assert.Equal("/repos/a?page=2", received.PathAndQuery);
        Assert.Equal("secretless", received.Headers["X-Via"]);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, received.Headers["Authorization"]);

        // The path rule is on the caller's path: /gh/user is outside /gh/repos/**.
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri(proxy.ProxyUri, "/gh/user"))).StatusCode);
        Assert.Single(proxy.Upstream.Requests);
    }

    public void Dispose() => _pki.Dispose();
}
