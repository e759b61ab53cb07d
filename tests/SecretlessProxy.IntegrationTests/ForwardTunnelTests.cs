using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The forward proxy's second part: opaque pass-through tunnels (decided by policy as CONNECT, the host resolved once
/// and loopback / link-local / metadata addresses refused unless a route names that exact address), the mTLS
/// listener as an HTTPS proxy for remote callers (curl's --proxy https://… with a proxy client certificate),
/// WebSocket upgrades inside an intercepted tunnel, and real Node clients: undici's ProxyAgent, and the AWS SDK for
/// JavaScript v3 putting and listing objects on s3rver through the proxy, which re-signs with SigV4.
/// </summary>
public sealed class ForwardTunnelTests : IAsyncLifetime
{
    private const string Bucket = "reports";

    private readonly TestPki _pki = new();
    private TlsRecordingUpstream _tls = null!;
    private WebApplication _ws = null!;
    private int _wsPort;
    private NodeProcess _s3rver = null!;
    private int _s3Port;
    private string _interceptionCa = "";

    public async Task InitializeAsync()
    {
        _tls = await TlsRecordingUpstream.StartAsync(_pki);
        (_ws, _wsPort) = await StartWebSocketUpstreamAsync();
        NodeProcess.RequirePackage("aws", "s3rver");
        var data = Directory.CreateDirectory(Path.Combine(_pki.Directory, "s3rver-data")).FullName;
        _s3rver = await NodeProcess.StartServerAsync("aws", "s3rver.mjs", data, Bucket);
        _s3Port = int.Parse(_s3rver.Listening.Trim(), System.Globalization.CultureInfo.InvariantCulture);
        _interceptionCa = _pki.WriteInterceptionCa();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "s3-key-id"), "S3RVER\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "s3-secret"), "S3RVER\n");
    }

    public async Task DisposeAsync()
    {
        await _tls.DisposeAsync();
        await _ws.StopAsync();
        await _ws.DisposeAsync();
        await _s3rver.DisposeAsync();
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
          - name: fwd-mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
            forwardProxy:
              interceptionCa: { cert: interception/ca.pem, key: interception/ca.key }
              upstreamCaFile: server-ca.pem
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          worker: { spiffeId: spiffe://example.org/ns/jobs/sa/worker }
          payments: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        credentials:
          github:
            provider: file
            path: github-token.txt
            inject: { type: header, name: Authorization, template: "Bearer {token}" }
          s3:
            provider: aws-static
            accessKeyIdFile: s3-key-id
            secretAccessKeyFile: s3-secret
            inject: { type: sigv4, service: s3, region: us-east-1, payload: signed }
        policies:
          - name: apis
            allow: [worker, payments]
            routes: [secure, ws, s3]
          - name: worker-tunnels
            allow: [worker]
            routes: [tunnel, tunnel-by-name]
            methods: [CONNECT]
        ReverseProxy:
          Routes:
            secure: { ClusterId: secure, Match: { Hosts: [secure.example.test] }, Metadata: { Credential: github } }
            ws: { ClusterId: ws, Match: { Hosts: [ws.example.test] }, Metadata: { Credential: github } }
            s3: { ClusterId: s3, Match: { Hosts: [s3.example.test] }, Metadata: { Credential: s3 } }
            tunnel: { Match: { Hosts: ["127.0.0.1:{{_tls.Port}}"] }, Metadata: { Forward: passthrough } }
            tunnel-by-name: { Match: { Hosts: ["localhost:{{_tls.Port}}"] }, Metadata: { Forward: passthrough } }
            tunnel-unallowed: { Match: { Hosts: ["127.0.0.1:{{_wsPort}}"] }, Metadata: { Forward: passthrough } }
          Clusters:
            secure: { Destinations: { d1: { Address: "https://localhost:{{_tls.Port}}/" } } }
            ws: { Destinations: { d1: { Address: "https://localhost:{{_wsPort}}/" } } }
            s3: { Destinations: { d1: { Address: "http://127.0.0.1:{{_s3Port}}/" } } }
        """;

    private static string ProxyUrl(ProxyUnderTest proxy) => proxy.Host.GetListenerUri("fwd").ToString().TrimEnd('/');

    [Fact]
    public async Task A_passthrough_route_tunnels_opaquely_to_the_address_it_names_and_nothing_is_injected()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        // The client talks TLS with the upstream itself (it verifies the upstream's own certificate, not a minted one).
        var through = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _pki.ServerCaPath, $"https://127.0.0.1:{_tls.Port}/through");
        Assert.True(through.Status == 200, through.StdErr + through.Body);
        Assert.Equal(RecordingUpstream.Body, through.Body);
        var seen = Assert.Single(_tls.Requests);
        Assert.Equal("/through", seen.PathAndQuery);
        Assert.False(seen.Headers.ContainsKey("Authorization"), "nothing is injected into an opaque tunnel");

        var record = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("protocol", out var p) && p.GetString() == "tunnel");
        Assert.Equal("tunnel", record.GetProperty("route").GetString());
        Assert.Equal("allow", record.GetProperty("outcome").GetString());
        Assert.Equal("worker-tunnels", record.GetProperty("rule").GetString());
        Assert.True(record.GetProperty("bytesUp").GetInt64() > 0);
        Assert.True(record.GetProperty("bytesDown").GetInt64() > 0);
        AssertNoCanary(proxy, through.Body + through.StdErr);
    }

    [Fact]
    public async Task A_passthrough_host_that_resolves_to_loopback_or_a_route_the_policy_does_not_allow_is_refused()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var port = proxy.Host.GetListenerUri("fwd").Port;

        // localhost resolves to a loopback address the route does not name exactly: refused, nothing connected.
        var byName = await RawConnection.ExchangeAsync(port, Encoding.ASCII.GetBytes($"CONNECT localhost:{_tls.Port} HTTP/1.1\r\nHost: localhost:{_tls.Port}\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 403 ", byName, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"forward_address_not_allowed\"", byName, StringComparison.Ordinal);
        Assert.Contains("loopback", byName, StringComparison.Ordinal);

        // A pass-through route no rule allows (deny by default).
        var unallowed = await RawConnection.ExchangeAsync(port, Encoding.ASCII.GetBytes($"CONNECT 127.0.0.1:{_wsPort} HTTP/1.1\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 403 ", unallowed, StringComparison.Ordinal);

        // The curl a user would run sees the refusal too.
        var curl = await Curl.RunAsync("-x", ProxyUrl(proxy), "--cacert", _pki.ServerCaPath, $"https://localhost:{_tls.Port}/x");
        Assert.NotEqual(0, curl.ExitCode);
        Assert.Contains("403", curl.StdErr, StringComparison.Ordinal);
        Assert.Empty(_tls.Requests);

        var record = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("reason", out var why) && why.GetString() == "forward_address_not_allowed");
        Assert.Equal("tunnel-by-name", record.GetProperty("route").GetString());
        Assert.Equal("spiffe://example.org/ns/jobs/sa/worker", record.GetProperty("identity").GetString());
    }

    [Fact]
    public async Task The_mtls_listener_is_an_https_proxy_for_callers_presenting_their_svid()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var proxyUrl = proxy.Host.GetListenerUri("fwd-mtls").ToString().TrimEnd('/');
        using var svid = _pki.Svid();
        var (cert, key) = _pki.WritePem(svid, "payments-svid");
        var ok = await Curl.RunAsync("--proxy", proxyUrl, "--proxy-cacert", _pki.ServerCaPath, "--proxy-cert", cert, "--proxy-key", key,
            "--cacert", _interceptionCa, "https://secure.example.test/remote");
        Assert.True(ok.Status == 200, ok.StdErr + ok.Body);
        var seen = Assert.Single(_tls.Requests);
        Assert.Equal("/remote", seen.PathAndQuery);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, seen.Headers["Authorization"]);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("listener", out var l) && l.GetString() == "fwd-mtls" && r.TryGetProperty("status", out var s) && s.GetInt32() == 200);
        Assert.Equal(TestPki.PaymentsId, record.GetProperty("identity").GetString());
        Assert.Equal("x509-svid", record.GetProperty("attestation").GetString());

        // The tunnels rule allows only the worker: a remote caller gets no opaque tunnel.
        var tunnel = await Curl.RunAsync("--proxy", proxyUrl, "--proxy-cacert", _pki.ServerCaPath, "--proxy-cert", cert, "--proxy-key", key,
            "--cacert", _pki.ServerCaPath, $"https://127.0.0.1:{_tls.Port}/tunnel");
        Assert.NotEqual(0, tunnel.ExitCode);

        // Without a client certificate the proxy's TLS handshake refuses the caller: no tunnel, no request.
        var anonymous = await Curl.RunAsync("--proxy", proxyUrl, "--proxy-cacert", _pki.ServerCaPath, "--cacert", _interceptionCa, "https://secure.example.test/anonymous");
        Assert.NotEqual(0, anonymous.ExitCode);
        Assert.Single(_tls.Requests);
        AssertNoCanary(proxy, ok.Body + ok.StdErr + anonymous.StdErr);
    }

    [Fact]
    public async Task A_websocket_upgrade_inside_an_intercepted_tunnel_reaches_the_upstream_with_the_credential()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(_interceptionCa));
        using var socket = new ClientWebSocket();
        socket.Options.Proxy = new WebProxy(ProxyUrl(proxy));
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && ChainsTo(certificate, ca);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await socket.ConnectAsync(new Uri("wss://ws.example.test/echo"), timeout.Token);
        Assert.Equal("credential: injected", await ReceiveTextAsync(socket, timeout.Token));
        await socket.SendAsync("ping through the tunnel"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        Assert.Equal("ping through the tunnel", await ReceiveTextAsync(socket, timeout.Token));
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", timeout.Token);
        AssertNoCanary(proxy, "");
    }

    [Fact]
    public async Task Undici_through_its_proxy_agent_reaches_the_upstream_with_the_credential()
    {
        NodeProcess.RequirePackage("forward", "undici");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        var result = await NodeProcess.RunClientAsync("forward", "undici", "undici-client.mjs", ProxyUrl(proxy), "https://secure.example.test/undici", _interceptionCa);
        Assert.True(result.TryGetProperty("status", out var status), result.ToString());
        Assert.Equal(200, status.GetInt32());
        Assert.Equal(RecordingUpstream.Body, result.GetProperty("body").GetString());
        var seen = Assert.Single(_tls.Requests);
        Assert.Equal("/undici", seen.PathAndQuery);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, seen.Headers["Authorization"]);
        AssertNoCanary(proxy, result.ToString());
    }

    [Fact]
    public async Task The_aws_sdk_puts_and_lists_objects_on_s3rver_through_the_proxy_which_re_signs()
    {
        NodeProcess.RequirePackage("forward", "@aws-sdk/client-s3");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        // Node trusts the interception CA for the tunnelled TLS through NODE_EXTRA_CA_CERTS, as the README says.
        var result = await NodeProcess.RunClientAsync("forward", "the AWS SDK", "s3-client.mjs",
            [ProxyUrl(proxy), "https://s3.example.test", Bucket, "sdk/through-the-proxy.txt", "put by @aws-sdk/client-s3 holding no real key"],
            new Dictionary<string, string> { ["NODE_EXTRA_CA_CERTS"] = _interceptionCa });
        Assert.False(result.TryGetProperty("error", out var error), error.ToString());
        Assert.Equal(200, result.GetProperty("put").GetInt32());
        Assert.Contains("sdk/through-the-proxy.txt", result.GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
        Assert.Equal("put by @aws-sdk/client-s3 holding no real key", result.GetProperty("body").GetString());
        // s3rver accepted the requests, so they were signed with the key only the proxy holds, not the SDK's dummy one.
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("route", out var route) && route.GetString() == "s3" && r.TryGetProperty("method", out var m) && m.GetString() == "PUT");
        Assert.Equal(200, record.GetProperty("status").GetInt32());
    }

    private static bool ChainsTo(X509Certificate certificate, X509Certificate2 root)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, cancellationToken);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);
        return Encoding.UTF8.GetString(message.ToArray());
    }

    /// <summary>A TLS WebSocket upstream: says whether the proxy's credential arrived on the upgrade request (never the value), then echoes.</summary>
    private async Task<(WebApplication, int)> StartWebSocketUpstreamAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        var certificate = X509Certificate2.CreateFromPemFile(Path.Combine(_pki.Directory, "server.pem"), Path.Combine(_pki.Directory, "server.key"));
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        app.UseWebSockets();
        app.Run(async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                context.Response.StatusCode = 400;
                return;
            }
            var injected = context.Request.Headers.Authorization.ToString() == "Bearer " + ProxyUnderTest.Canary;
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await socket.SendAsync(Encoding.UTF8.GetBytes(injected ? "credential: injected" : "credential: missing"), WebSocketMessageType.Text, true, context.RequestAborted);
            var buffer = new byte[4096];
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
                    return;
                }
                await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, context.RequestAborted);
            }
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return (app, address.Port);
    }

    private static void AssertNoCanary(ProxyUnderTest proxy, string clientOutput)
    {
        Assert.DoesNotContain(ProxyUnderTest.Canary, clientOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Decisions.Text, StringComparison.Ordinal);
    }
}
