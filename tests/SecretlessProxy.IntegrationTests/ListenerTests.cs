using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Listener-level behaviour: server certificate reload, HTTP/3 detection, the decision log file sink.</summary>
public sealed class ListenerTests : IDisposable
{
    private readonly TestPki _pki = new();

    private async Task<string> ServedCertificateAsync(Uri uri, X509Certificate2 client)
    {
        string? thumbprint = null;
        var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        trust.CustomTrustStore.Add(_pki.ServerCa.Certificate);
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(client, null, offline: true),
                CertificateChainPolicy = trust,
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    thumbprint = certificate?.GetCertHashString();
                    return errors == SslPolicyErrors.None;
                },
            },
        };
        using var http = new HttpClient(handler);
        using var response = await http.GetAsync(new Uri(uri, "/allowed/cert"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return thumbprint!;
    }

    [Fact]
    public async Task Server_certificate_file_change_is_served_on_new_connections()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        var svid = _pki.Svid();
        var before = await ServedCertificateAsync(proxy.ProxyUri, svid);

        using var replacement = _pki.ServerCa.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        var generation = proxy.Host.Config.Generation;
        DevCertificateAuthority.WritePem(replacement, Path.Combine(_pki.Directory, "server.pem"), Path.Combine(_pki.Directory, "server.key"));
        await Eventually.Until(() => proxy.Host.Config.Generation != generation, "the new server certificate is loaded");
        var after = await ServedCertificateAsync(proxy.ProxyUri, svid);
        Assert.NotEqual(before, after);
        Assert.Equal(replacement.GetCertHashString(), after);
    }

    [Fact]
    public async Task Broken_server_certificate_file_is_refused_and_the_old_one_keeps_serving()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        var svid = _pki.Svid();
        var before = await ServedCertificateAsync(proxy.ProxyUri, svid);
        var refusals = proxy.Host.Config.Refusals;
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "server.pem"), "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
        await Eventually.Until(() => proxy.Host.Config.Refusals != refusals, "the broken server certificate is refused");
        Assert.True(proxy.Host.Config.Refusals > refusals);
        Assert.Contains(proxy.Host.Config.LastRefusal, e => e.KeyPath == "listeners[0].certificate.cert");
        Assert.Equal(before, await ServedCertificateAsync(proxy.ProxyUri, svid));
    }

    [Fact]
    public async Task Http3_request_is_reported_at_start_and_http2_still_serves()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u)
            .Replace("    url: https://127.0.0.1:0\n", "    url: https://127.0.0.1:0\n    protocols: [http1, http2, http3]\n", StringComparison.Ordinal));
        Assert.Contains(proxy.Logs.Lines, l => l.Contains("HTTP/3", StringComparison.Ordinal) && (l.Contains("[1102]", StringComparison.Ordinal) || l.Contains("[1103]", StringComparison.Ordinal)));
        using var client = proxy.Client(HttpVersion.Version20);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/h2"))).StatusCode);
    }

    [Fact]
    public async Task Decision_records_go_to_the_configured_file()
    {
        var file = Path.Combine(_pki.Directory, "decisions.jsonl");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u) + "\ndecisionLog: { sink: file, path: decisions.jsonl }\n");
        using var client = proxy.Client();
        await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/to-file"));
        await client.GetAsync(new Uri(proxy.ProxyUri, "/denied/to-file"));
        List<JsonElement> records = [];
        await Eventually.Until(() =>
        {
            records = File.Exists(file)
                ? File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement.Clone()).Where(r => r.GetProperty("kind").GetString() == "decision").ToList()
                : [];
            return records.Count >= 2;
        }, "both decision records are in the file", lastSeen: () => $"{records.Count} so far");
        Assert.Equal(["allow", "deny"], records.Select(r => r.GetProperty("outcome").GetString()));
        Assert.Empty(proxy.Decisions.Text);
    }

    public void Dispose() => _pki.Dispose();
}
