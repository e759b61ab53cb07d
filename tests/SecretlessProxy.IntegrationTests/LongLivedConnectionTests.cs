using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// A keep-alive connection is verified at its handshake; it must not outlive its SVID, nor a trust bundle that no
/// longer vouches for it. Its next request is refused (401, with the reason) and the connection is closed.
/// </summary>
public sealed class LongLivedConnectionTests : IDisposable
{
    private readonly TestPki _pki = new();

    private static async Task<(HttpStatusCode Status, string? Reason, bool Closes)> GetAsync(HttpClient client, Uri uri)
    {
        using var response = await client.GetAsync(uri);
        var body = await response.Content.ReadAsStringAsync();
        var reason = response.StatusCode == HttpStatusCode.OK ? null : JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString();
        return (response.StatusCode, reason, response.Headers.ConnectionClose == true);
    }

    [Fact]
    public async Task A_connection_whose_svid_expired_is_refused_and_closed()
    {
        // The proxy's clock is the test's: the SVID expires when the test moves time past it, not after a real wait.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, time: time);
        using var svid = _pki.ExampleCa.IssueSvid(TestPki.PaymentsId, TimeSpan.FromMinutes(1));
        using var client = _pki.Client(svid);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, new Uri(proxy.ProxyUri, "/allowed/fresh"))).Status);
        // Still valid a moment before it expires: the same connection keeps serving.
        time.Advance(new DateTimeOffset(svid.NotAfter.ToUniversalTime()) - time.GetUtcNow() - TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, new Uri(proxy.ProxyUri, "/allowed/almost"))).Status);

        time.Advance(TimeSpan.FromSeconds(2));
        var (status, reason, closes) = await GetAsync(client, new Uri(proxy.ProxyUri, "/allowed/stale"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("certificate_expired", reason);
        Assert.True(closes);
        Assert.DoesNotContain(proxy.Upstream.Requests, r => r.PathAndQuery == "/allowed/stale");
        Assert.Contains("no longer has a valid SVID", proxy.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reload_that_changes_the_bundle_reverifies_open_connections_and_one_that_does_not_keeps_them()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = _pki.Client(_pki.Svid());
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, new Uri(proxy.ProxyUri, "/allowed/one"))).Status);

        // A reload with the same bundles (a new rule) leaves the connection as it was.
        Assert.True(await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address,
            extraPolicies: "  - name: extra\n    allow: [payments]\n    routes: [denied]")), proxy.Logs.Text);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(client, new Uri(proxy.ProxyUri, "/allowed/two"))).Status);

        // example.org's bundle now holds another CA: the open connection's SVID no longer chains to it.
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "rotated.pem"), _pki.UnknownCa.Certificate.ExportCertificatePem());
        Assert.True(await proxy.RewriteConfigAsync(ProxyUnderTest.DefaultConfig(proxy.Upstream.Address)
            .Replace("example.org: example.org.pem", "example.org: rotated.pem", StringComparison.Ordinal)), proxy.Logs.Text);
        var (status, reason, closes) = await GetAsync(client, new Uri(proxy.ProxyUri, "/allowed/three"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("chain_untrusted", reason);
        Assert.True(closes);
        Assert.DoesNotContain(proxy.Upstream.Requests, r => r.PathAndQuery == "/allowed/three");
    }

    public void Dispose() => _pki.Dispose();
}
