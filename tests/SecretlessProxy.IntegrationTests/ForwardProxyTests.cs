using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The forward proxy with real curl: HTTP_PROXY-style absolute-form requests and HTTPS_PROXY-style CONNECT tunnels
/// (TLS intercepted with a leaf minted from a dev-ca interception CA) through a loopback listener bound to one
/// identity, to a recording upstream and to a TLS upstream verified against its own CA (<c>upstreamCaFile</c>).
/// Hosts no route names, a Host that differs from the tunnel's, and malformed CONNECTs are refused; the listener
/// keeps serving; the credential never reaches the client or the logs.
/// </summary>
public sealed class ForwardProxyTests : IAsyncLifetime
{
    private readonly TestPki _pki = new();
    private TlsRecordingUpstream _tls = null!;
    private TlsRecordingUpstream _untrusted = null!;
    private string _interceptionCa = "";

    public async Task InitializeAsync()
    {
        _tls = await TlsRecordingUpstream.StartAsync(_pki);
        // A certificate for localhost from a CA neither the system roots nor upstreamCaFile hold.
        _untrusted = await TlsRecordingUpstream.StartAsync(_pki, _pki.UnknownCa.IssueServer(["localhost"], [System.Net.IPAddress.Loopback], TimeSpan.FromHours(1)));
        _interceptionCa = _pki.WriteInterceptionCa();
    }

    public async Task DisposeAsync()
    {
        await _tls.DisposeAsync();
        await _untrusted.DisposeAsync();
        _pki.Dispose();
    }

    private string Config(Uri upstream) => $$"""
        listeners:
          - name: fwd
            url: http://127.0.0.1:0
            identity: worker
            forwardProxy:
              interceptionCa: { cert: interception/ca.pem, key: interception/ca.key }
              upstreamCaFile: server-ca.pem
          - name: fwd-socket
            url: unix:fwd-{{upstream.Port}}.sock
            forwardProxy:
              interceptionCa: { cert: interception/ca.pem, key: interception/ca.key }
              upstreamCaFile: server-ca.pem
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          worker: { spiffeId: spiffe://example.org/ns/jobs/sa/worker, unix: { uid: 0 } }
        credentials:
          github:
            provider: file
            path: github-token.txt
            inject: { type: header, name: Authorization, template: "Bearer {token}" }
        policies:
          - name: worker-uses-the-apis
            allow: [worker]
            routes: [plain, secure, open, untrusted]
        ReverseProxy:
          Routes:
            plain: { ClusterId: plain, Match: { Hosts: [api.example.test] }, Metadata: { Credential: github } }
            secure: { ClusterId: secure, Match: { Hosts: [secure.example.test] }, Metadata: { Credential: github } }
            open: { ClusterId: plain, Match: { Path: "/open/{**rest}" }, Metadata: { Credential: github } }
            untrusted: { ClusterId: untrusted, Match: { Hosts: [untrusted.example.test] }, Metadata: { Credential: github } }
          Clusters:
            plain:
              Destinations:
                d1: { Address: "{{upstream}}" }
            secure:
              Destinations:
                d1: { Address: "https://localhost:{{_tls.Port}}/" }
            untrusted:
              Destinations:
                d1: { Address: "https://localhost:{{_untrusted.Port}}/" }
        """;

    private static string ProxyUrl(ProxyUnderTest proxy) => proxy.Host.GetListenerUri("fwd").ToString().TrimEnd('/');

    [Fact]
    public async Task An_absolute_form_request_to_a_routed_host_gets_the_credential_and_an_unrouted_host_gets_403()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var ok = await Curl.RunAsync("-x", ProxyUrl(proxy), "http://api.example.test/orders?page=2");
        Assert.Equal(200, ok.Status);
        Assert.Equal(RecordingUpstream.Body, ok.Body);
        var seen = Assert.Single(proxy.Upstream.Requests);
        Assert.Equal("/orders?page=2", seen.PathAndQuery);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, seen.Headers["Authorization"]);

        // HTTP_PROXY in the environment, as every HTTP stack reads it.
        var env = await Curl.RunWithAsync(["env", "http_proxy=" + ProxyUrl(proxy), "curl"], "http://api.example.test/env");
        Assert.Equal(200, env.Status);
        Assert.Equal(2, proxy.Upstream.Requests.Count);

        var refused = await Curl.RunAsync("-x", ProxyUrl(proxy), "http://unrouted.example.test/orders");
        Assert.Equal(403, refused.Status);
        using var problem = JsonDocument.Parse(refused.Body);
        Assert.Equal("forward_host_not_allowed", problem.RootElement.GetProperty("reason").GetString());
        // A path-only route does not open the proxy to hosts no route names.
        Assert.Equal(403, (await Curl.RunAsync("-x", ProxyUrl(proxy), "http://unrouted.example.test/open/x")).Status);
        // Nor does a port the route does not list.
        Assert.Equal(403, (await Curl.RunAsync("-x", ProxyUrl(proxy), "http://api.example.test:8080/orders")).Status);
        Assert.Equal(2, proxy.Upstream.Requests.Count);
        await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("reason", out var why) && why.ValueKind == JsonValueKind.String && why.GetString() == "forward_host_not_allowed");
        AssertNoCanary(proxy, ok.Body + ok.StdErr + refused.Body + env.Body);
    }

    [Fact]
    public async Task A_connect_tunnel_is_intercepted_and_the_credential_injected_upstream_over_verified_tls_over_http1_and_h2()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var h1 = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _interceptionCa, "--http1.1", "https://secure.example.test/repos");
        Assert.True(h1.Status == 200, h1.StdErr + h1.Body);
        Assert.Equal(RecordingUpstream.Body, h1.Body);
        var seen = Assert.Single(_tls.Requests);
        Assert.Equal("/repos", seen.PathAndQuery);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, seen.Headers["Authorization"]);

        // HTTPS_PROXY from the environment; curl's default ALPN offers h2 first.
        var h2 = await Curl.RunWithAsync(["env", "HTTPS_PROXY=" + ProxyUrl(proxy), "curl"], "--cacert", _interceptionCa, "-w", "\n%{http_version}\n%{http_code}", "https://secure.example.test/h2");
        Assert.Equal(200, h2.Status);
        Assert.EndsWith("\n2", h2.Body, StringComparison.Ordinal);
        Assert.Equal(2, _tls.Requests.Count);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, _tls.Requests.Last().Headers["Authorization"]);

        // Without trusting the interception CA, curl refuses the minted certificate: nothing is sent.
        var untrusted = await Curl.RunAsync("-x", ProxyUrl(proxy), "https://secure.example.test/x");
        Assert.NotEqual(0, untrusted.ExitCode);
        Assert.Equal(2, _tls.Requests.Count);
        AssertNoCanary(proxy, h1.Body + h1.StdErr + h2.Body + h2.StdErr);
    }

    [Fact]
    public async Task An_upstream_whose_certificate_does_not_verify_gets_502_and_no_request()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var result = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _interceptionCa, "https://untrusted.example.test/repos");
        Assert.True(result.Status == 502, result.StdErr + result.Body);
        using var problem = JsonDocument.Parse(result.Body);
        Assert.Equal("upstream_unavailable", problem.RootElement.GetProperty("reason").GetString());
        Assert.Contains($"the certificate of localhost:{_untrusted.Port} (route 'untrusted') does not verify", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Empty(_untrusted.Requests);
        AssertNoCanary(proxy, result.Body);
    }

    [Fact]
    public async Task The_unix_socket_listener_is_a_forward_proxy_too()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var socket = proxy.Host.GetSocketPath("fwd-socket");
        var plain = await Curl.RunAsync("--unix-socket", socket, "-x", "http://proxy", "http://api.example.test/via-socket");
        Assert.True(plain.Status == 200, plain.StdErr + plain.Body);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, Assert.Single(proxy.Upstream.Requests).Headers["Authorization"]);
        // curl does not tunnel https through a proxy on a Unix socket; a .NET HttpClient does (its ConnectCallback
        // dials the proxy), trusting the interception CA, over HTTP/2.
        using var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(_interceptionCa));
        var trust = new System.Security.Cryptography.X509Certificates.X509ChainPolicy { TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust, RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck };
        trust.CustomTrustStore.Add(ca);
        using var handler = new SocketsHttpHandler
        {
            Proxy = new System.Net.WebProxy("http://proxy"),
            UseProxy = true,
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions { CertificateChainPolicy = trust },
            ConnectCallback = async (_, token) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socket), token);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        using var client = new HttpClient(handler) { DefaultRequestVersion = System.Net.HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var response = await client.GetAsync("https://secure.example.test/via-socket");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(System.Net.HttpVersion.Version20, response.Version);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, Assert.Single(_tls.Requests).Headers["Authorization"]);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("listener", out var l) && l.GetString() == "fwd-socket" && r.TryGetProperty("status", out var st) && st.GetInt32() == 200
            && _tls.Requests.Count == 1);
        Assert.Equal("unix-peer", record.GetProperty("attestation").GetString());
    }

    [Fact]
    public async Task Python_urllib_with_https_proxy_and_ssl_cert_file_reaches_the_upstream_with_the_credential()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var start = new System.Diagnostics.ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("import urllib.request; print(urllib.request.urlopen('https://secure.example.test/python', timeout=20).read().decode())");
        start.Environment["https_proxy"] = ProxyUrl(proxy);
        start.Environment["SSL_CERT_FILE"] = _interceptionCa;
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, stderr);
        Assert.Equal(RecordingUpstream.Body, stdout.Trim());
        var seen = Assert.Single(_tls.Requests);
        Assert.Equal("/python", seen.PathAndQuery);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, seen.Headers["Authorization"]);
        AssertNoCanary(proxy, stdout + stderr);
    }

    [Fact]
    public async Task A_request_in_a_tunnel_naming_another_host_is_refused()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        foreach (var version in new[] { "--http1.1", "--http2" })
        {
            var other = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _interceptionCa, version, "-H", "Host: api.example.test", "https://secure.example.test/repos");
            Assert.True(other.Status == 421, version + ": " + other.StdErr + other.Body);
            using var problem = JsonDocument.Parse(other.Body);
            Assert.Equal("tunnel_host_mismatch", problem.RootElement.GetProperty("reason").GetString());
        }
        Assert.Empty(_tls.Requests);
        Assert.Empty(proxy.Upstream.Requests);
    }

    [Fact]
    public async Task Connect_to_an_unrouted_host_or_port_gets_403_and_malformed_connects_are_refused_while_the_listener_keeps_serving()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var port = proxy.Host.GetListenerUri("fwd").Port;

        var unrouted = await RawConnection.ExchangeAsync(port, "CONNECT unrouted.example.test:443 HTTP/1.1\r\nHost: unrouted.example.test:443\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 403 ", unrouted, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"forward_host_not_allowed\"", unrouted, StringComparison.Ordinal);
        Assert.Contains("application/problem+json", unrouted, StringComparison.Ordinal);

        var otherPort = await RawConnection.ExchangeAsync(port, "CONNECT secure.example.test:22 HTTP/1.1\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 403 ", otherPort, StringComparison.Ordinal);
        foreach (var target in new[] { "127.0.0.1:22", "169.254.169.254:80", "[fd00:ec2::254]:80" })
        {
            Assert.StartsWith("HTTP/1.1 403 ", await RawConnection.ExchangeAsync(port, Encoding.ASCII.GetBytes($"CONNECT {target} HTTP/1.1\r\n\r\n")), StringComparison.Ordinal);
        }

        var curl = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _interceptionCa, "https://unrouted.example.test/");
        Assert.NotEqual(0, curl.ExitCode);
        Assert.Contains("403", curl.StdErr, StringComparison.Ordinal);

        var noPort = await RawConnection.ExchangeAsync(port, "CONNECT secure.example.test HTTP/1.1\r\n\r\n"u8.ToArray());
        Assert.StartsWith("HTTP/1.1 400 ", noPort, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"connect_malformed\"", noPort, StringComparison.Ordinal);

        var huge = await RawConnection.ExchangeAsync(port, Encoding.ASCII.GetBytes("CONNECT secure.example.test:443 HTTP/1.1\r\nX-Pad: " + new string('a', 10_000) + "\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 400 ", huge, StringComparison.Ordinal);

        var binary = await RawConnection.ExchangeAsync(port, [.. "CONNECT "u8, 0x16, 0x03, 0x01, 0x00, 0xff, 0x80, (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n']);
        Assert.StartsWith("HTTP/1.1 400 ", binary, StringComparison.Ordinal);

        // Bytes that are not HTTP at all go to Kestrel's parser, which refuses them.
        var tls = await RawConnection.ExchangeAsync(port, [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n']);
        Assert.DoesNotContain("200", tls, StringComparison.Ordinal);

        Assert.Empty(_tls.Requests);
        var after = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _interceptionCa, "https://secure.example.test/still");
        Assert.Equal(200, after.Status);
        Assert.Single(_tls.Requests);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("method", out var m) && m.GetString() == "CONNECT" && r.TryGetProperty("reason", out var why) && why.GetString() == "forward_host_not_allowed");
        Assert.Equal("spiffe://example.org/ns/jobs/sa/worker", record.GetProperty("identity").GetString());
        AssertNoCanary(proxy, unrouted + noPort + huge);
    }

    private static void AssertNoCanary(ProxyUnderTest proxy, string clientOutput)
    {
        Assert.DoesNotContain(ProxyUnderTest.Canary, clientOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Decisions.Text, StringComparison.Ordinal);
    }
}
