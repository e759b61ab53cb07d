using System.Net;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// mTLS toward upstreams, against a real Kestrel upstream that requires a client certificate and accepts only the ones
/// it is told to: a <c>client-certificate</c> credential presented per route (one connection pool per certificate), and
/// a cluster presenting the proxy's own SVID (<c>ClientCertificate: proxy-svid</c>), rotated with its files.
/// </summary>
public sealed class UpstreamMtlsTests : IDisposable
{
    private readonly TestPki _pki = new();

    public UpstreamMtlsTests() => _pki.WriteInterceptionCa();

    private X509Certificate2 Write(string name, string spiffeId)
    {
        var now = DateTimeOffset.UtcNow;
        var certificate = _pki.ServerCa.Issue(new CertificateSpec
        {
            Subject = "CN=" + name,
            Uris = [spiffeId],
            DnsNames = ["localhost"],
            IpAddresses = [IPAddress.Loopback],
            KeyUsage = System.Security.Cryptography.X509Certificates.X509KeyUsageFlags.DigitalSignature,
            ExtendedKeyUsages = [CertificateSpec.ServerAuth, CertificateSpec.ClientAuth],
            NotBefore = now.AddMinutes(-5),
            NotAfter = now.AddHours(1),
        });
        // Written whole and moved in place, as a rotation does, so the watcher never reads half a file.
        var cert = Path.Combine(_pki.Directory, name + ".pem");
        var key = Path.Combine(_pki.Directory, name + ".key");
        DevCertificateAuthority.WritePem(certificate, cert + ".tmp", key + ".tmp");
        File.Move(key + ".tmp", key, overwrite: true);
        File.Move(cert + ".tmp", cert, overwrite: true);
        return certificate;
    }

    private static string Config(MtlsUpstream upstream) => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: proxy.pem, key: proxy.key }
            trustBundles: { example.org: example.org.pem }
          - name: fwd
            url: unix:fwd-{{upstream.Port}}.sock
            forwardProxy:
              interceptionCa: { cert: interception/ca.pem, key: interception/ca.key }
              # The upstream's server certificate is from the test's server CA.
              upstreamCaFile: server-ca.pem
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          payments: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        credentials:
          partner: { provider: client-certificate, certFile: partner.pem, keyFile: partner.key }
          stranger: { provider: client-certificate, certFile: stranger.pem, keyFile: stranger.key }
        policies:
          - { name: payments, allow: [payments], routes: [partner, stranger, bare, svid] }
        ReverseProxy:
          Routes:
            partner: { ClusterId: partner, Match: { Path: "/partner/{**rest}" }, Metadata: { Credential: partner } }
            stranger: { ClusterId: partner, Match: { Path: "/stranger/{**rest}" }, Metadata: { Credential: stranger } }
            bare: { ClusterId: partner, Match: { Path: "/bare/{**rest}" } }
            svid: { ClusterId: svid, Match: { Path: "/svid/{**rest}" } }
          Clusters:
            partner:
              Destinations: { d1: { Address: "{{upstream.Address}}" } }
            svid:
              Destinations: { d1: { Address: "{{upstream.Address}}" } }
              Metadata: { ClientCertificate: proxy-svid }
        """;

    [Fact]
    public async Task The_client_certificate_credential_reaches_the_upstream_and_its_connections_serve_no_other_request()
    {
        Write("proxy", "spiffe://example.org/proxy");
        using var partner = Write("partner", "spiffe://partner.example/client");
        using var stranger = Write("stranger", "spiffe://partner.example/stranger");
        var partnerKey = File.ReadAllLines(Path.Combine(_pki.Directory, "partner.key"))[1];
        await using var upstream = await MtlsUpstream.StartAsync(_pki, partner);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(upstream));
        using var client = proxy.Client();
        var bodies = new List<string>();

        // Interleaved and concurrent: the credential's pool answers, the bare route's (no certificate) and the
        // stranger's (a certificate the upstream refuses) never ride on the partner's connections.
        var calls = Enumerable.Range(0, 30).Select(async i =>
        {
            var route = (i % 3) switch { 0 => "partner", 1 => "bare", _ => "stranger" };
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, $"/{route}/{i}"));
            var body = await response.Content.ReadAsStringAsync();
            lock (bodies)
            {
                bodies.Add(body);
            }
            return (route, response.StatusCode, body);
        });
        foreach (var (route, status, body) in await Task.WhenAll(calls))
        {
            if (route == "partner")
            {
                Assert.True(status == HttpStatusCode.OK, body);
                Assert.Contains(MtlsUpstream.Thumbprint(partner), body, StringComparison.OrdinalIgnoreCase);
            }
            else
            {
                Assert.Equal(HttpStatusCode.BadGateway, status);
                Assert.Contains("upstream_unavailable", body, StringComparison.Ordinal);
            }
        }
        Assert.Equal(10, upstream.Requests.Count);
        Assert.All(upstream.Requests, r => Assert.StartsWith("/partner/", r.Path, StringComparison.Ordinal));
        Assert.True(upstream.Refused > 0, "the upstream refused the stranger's certificate at the handshake");

        // The upstream now accepts the stranger too: each route presents its own certificate, never the other's.
        upstream.Accepted[MtlsUpstream.Thumbprint(stranger)] = true;
        foreach (var route in new[] { "stranger", "partner", "stranger", "partner" })
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, $"/{route}/again"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var expected = route == "partner" ? partner : stranger;
            Assert.Contains(MtlsUpstream.Thumbprint(expected), await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }

        // The partner's certificate is replaced on disk: the next calls present the new one.
        using var renewed = Write("partner", "spiffe://partner.example/client");
        upstream.Accepted[MtlsUpstream.Thumbprint(renewed)] = true;
        await Eventually.Until(async () =>
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/partner/renewed"));
            return (await response.Content.ReadAsStringAsync()).Contains(MtlsUpstream.Thumbprint(renewed), StringComparison.OrdinalIgnoreCase);
        }, "the proxy presents the renewed partner certificate");

        // The private key is nowhere but in the proxy's memory.
        foreach (var text in bodies.Append(proxy.Logs.Text).Append(proxy.Decisions.Text))
        {
            Assert.DoesNotContain(partnerKey, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_cluster_presents_the_proxy_svid_and_the_rotated_one_after_its_files_change()
    {
        using var svid = Write("proxy", "spiffe://example.org/proxy");
        Write("partner", "spiffe://partner.example/client");
        Write("stranger", "spiffe://partner.example/stranger");
        await using var upstream = await MtlsUpstream.StartAsync(_pki, svid);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(upstream));
        using var client = proxy.Client();

        using (var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/svid/one")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains(MtlsUpstream.Thumbprint(svid), await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        }
        // The cluster without ClientCertificate presents nothing to the same upstream.
        using (var bare = await client.GetAsync(new Uri(proxy.ProxyUri, "/bare/one")))
        {
            Assert.Equal(HttpStatusCode.BadGateway, bare.StatusCode);
        }

        using var rotated = Write("proxy", "spiffe://example.org/proxy");
        upstream.Accepted.Clear();
        upstream.Accepted[MtlsUpstream.Thumbprint(rotated)] = true;
        await Eventually.Until(async () =>
        {
            using var again = proxy.Client();
            using var response = await again.GetAsync(new Uri(proxy.ProxyUri, "/svid/rotated"));
            return response.StatusCode == HttpStatusCode.OK
                && (await response.Content.ReadAsStringAsync()).Contains(MtlsUpstream.Thumbprint(rotated), StringComparison.OrdinalIgnoreCase);
        }, "the cluster presents the rotated SVID");
    }

    [Fact]
    public async Task A_cluster_presents_the_svid_the_workload_api_delivers_and_the_rotated_one_next()
    {
        const string proxyId = "spiffe://example.org/secretless-proxy";
        X509Certificate2 Svid() => _pki.ExampleCa.Issue(new CertificateSpec
        {
            Subject = "O=SPIFFE",
            Uris = [proxyId],
            NotBefore = DateTimeOffset.UtcNow.AddMinutes(-5),
            NotAfter = DateTimeOffset.UtcNow.AddHours(1),
            ExtendedKeyUsages = [CertificateSpec.ServerAuth, CertificateSpec.ClientAuth],
        });
        Write("partner", "spiffe://partner.example/client");
        Write("stranger", "spiffe://partner.example/stranger");
        await using var agent = new WorkloadApiServer(_pki.Directory);
        using var first = Svid();
        agent.SetSvid(first, proxyId, _pki.ExampleCa.Certificate);
        agent.SetBundles(new Dictionary<string, X509Certificate2[]> { ["example.org"] = [_pki.ExampleCa.Certificate] });
        await agent.StartAsync();
        await using var upstream = await MtlsUpstream.StartAsync(_pki, first);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => $"spiffe:\n  workloadApi: {{ socket: \"unix:{agent.SocketPath}\", retryMaxDelay: 0.2s }}\n"
            + Config(upstream).Replace("    certificate: { cert: proxy.pem, key: proxy.key }\n    trustBundles: { example.org: example.org.pem }\n", "", StringComparison.Ordinal));

        // The caller verifies the proxy's SVID (no DNS name in it) by its issuer, the example.org CA.
        async Task<(HttpStatusCode, string)> CallAsync(string path)
        {
            using var client = new HttpClient(new SocketsHttpHandler
            {
                SslOptions = new System.Net.Security.SslClientAuthenticationOptions
                {
                    ClientCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(_pki.Svid(), null, offline: true),
                    RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Issuer == _pki.ExampleCa.Certificate.Subject,
                },
            });
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, path));
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        // Until the agent delivered the SVID no handshake succeeds on the listener: wait until the proxy says it is ready.
        using var admin = new HttpClient();
        await Eventually.Until(async () => (await admin.GetAsync(new Uri(proxy.AdminUri, "/readyz"))).StatusCode == HttpStatusCode.OK, "the proxy has its SVID and bundles");
        var (status, body) = await CallAsync("/svid/first");
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.Contains(MtlsUpstream.Thumbprint(first), (await CallAsync("/svid/again")).Item2, StringComparison.OrdinalIgnoreCase);

        using var second = Svid();
        upstream.Accepted.Clear();
        upstream.Accepted[MtlsUpstream.Thumbprint(second)] = true;
        var generation = proxy.Host.Config.Generation;
        agent.SetSvid(second, proxyId, _pki.ExampleCa.Certificate);
        await Eventually.Until(async () => (await CallAsync("/svid/rotated")).Item2.Contains(MtlsUpstream.Thumbprint(second), StringComparison.OrdinalIgnoreCase),
            "the cluster presents the rotated SVID");
        // No reload was needed: the SVID is read at each request.
        Assert.Equal(generation, proxy.Host.Config.Generation);
    }

    public void Dispose() => _pki.Dispose();
}
