using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The proxy with <c>spiffe.workloadApi</c> and no certificate or bundle files: a Workload API server on a Unix socket
/// (the public workload.proto) gives it its X.509-SVID and the bundles, rotates both live, and issues JWT-SVIDs.
/// Clients are SPIFFE clients: they verify the proxy's certificate against the example.org bundle and its SPIFFE ID.
/// </summary>
public sealed class WorkloadApiTests
{
    private const string ProxyId = "spiffe://example.org/secretless-proxy";

    private static string Config(Uri upstream, string socket)
    {
        var text = ProxyUnderTest.DefaultConfig(upstream)
            .Replace("    certificate: { cert: server.pem, key: server.key }\n", "", StringComparison.Ordinal)
            .Replace("    trustBundles:\n      example.org: example.org.pem\n      other.org: other.org.pem\n", "", StringComparison.Ordinal);
        Assert.DoesNotContain("server.pem", text, StringComparison.Ordinal);
        Assert.DoesNotContain("trustBundles", text, StringComparison.Ordinal);
        return $"spiffe:\n  workloadApi: {{ socket: \"unix:{socket}\", retryMaxDelay: 0.2s }}\n" + text;
    }

    /// <summary>The proxy's SVID: its SPIFFE ID, serverAuth for the listener (and clientAuth as SPIRE issues them).</summary>
    private static X509Certificate2 ProxySvid(DevCertificateAuthority ca) => ca.Issue(new CertificateSpec
    {
        Subject = "O=SPIFFE",
        Uris = [ProxyId],
        NotBefore = DateTimeOffset.UtcNow.AddMinutes(-5),
        NotAfter = DateTimeOffset.UtcNow.AddHours(1),
        ExtendedKeyUsages = [CertificateSpec.ServerAuth, CertificateSpec.ClientAuth],
    });

    /// <summary>
    /// One new connection as a SPIFFE client: presents <paramref name="svid"/>, accepts the proxy only if its certificate
    /// chains to <paramref name="bundle"/> and names <see cref="ProxyId"/>; returns the status and the proxy's certificate.
    /// </summary>
    private static async Task<(HttpStatusCode Status, string Body, X509Certificate2? Server)> CallAsync(Uri proxy, X509Certificate2 svid, X509Certificate2 bundle, string path = "/allowed/x")
    {
        X509Certificate2? seen = null;
        using var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                ClientCertificateContext = SslStreamCertificateContext.Create(svid, null, offline: true),
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return false;
                    }
                    var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    chain.ChainPolicy.CustomTrustStore.Add(bundle);
                    var uri = SecretlessProxy.Identity.UriSanReader.Read(leaf, out _)?.SingleOrDefault();
                    seen = leaf;
                    return chain.Build(leaf) && uri == ProxyId;
                },
            },
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        using var response = await client.GetAsync(new Uri(proxy, path));
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), seen);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyAsync(ProxyUnderTest proxy)
    {
        using var client = new HttpClient();
        using var response = await client.GetAsync(new Uri(proxy.AdminUri, "/readyz"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static Dictionary<string, X509Certificate2[]> Bundles(params (string Domain, DevCertificateAuthority Ca)[] cas) =>
        cas.ToDictionary(c => c.Domain, c => new[] { c.Ca.Certificate });

    [Fact]
    public async Task Starts_from_the_Workload_API_with_no_certificate_files_and_callers_verify_it_against_the_bundle()
    {
        using var pki = new TestPki();
        File.Delete(Path.Combine(pki.Directory, "server.pem"));
        File.Delete(Path.Combine(pki.Directory, "server.key"));
        await using var agent = new WorkloadApiServer(pki.Directory);
        using var svid = ProxySvid(pki.ExampleCa);
        agent.SetSvid(svid, ProxyId, pki.ExampleCa.Certificate);
        // other.org is a federated trust domain: its bundle arrives in the same update.
        agent.SetBundles(Bundles(("example.org", pki.ExampleCa), ("other.org", pki.OtherCa)));
        await agent.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(pki, u => Config(u, agent.SocketPath));
        await Eventually.Until(async () => (await ReadyAsync(proxy)).Status == HttpStatusCode.OK, "the proxy has its SVID and bundles");

        using var caller = pki.Svid();
        var (status, _, server) = await CallAsync(proxy.ProxyUri, caller, pki.ExampleCa.Certificate);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(svid.Thumbprint, server!.Thumbprint);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, proxy.Upstream.Requests.Last().Headers["Authorization"]);

        // A caller of the federated trust domain is verified (then refused by policy, not by the handshake's verification).
        using var federated = pki.OtherCa.IssueSvid("spiffe://other.org/ns/batch/sa/job", TimeSpan.FromHours(1));
        var (federatedStatus, body, _) = await CallAsync(proxy.ProxyUri, federated, pki.ExampleCa.Certificate);
        Assert.Equal(HttpStatusCode.Forbidden, federatedStatus);
        Assert.DoesNotContain("trust_domain_unknown", body, StringComparison.Ordinal);
        Assert.Equal(0, agent.RefusedWithoutHeader);
    }

    [Fact]
    public async Task Rotates_the_proxy_certificate_live_while_clients_keep_connecting()
    {
        using var pki = new TestPki();
        await using var agent = new WorkloadApiServer(pki.Directory);
        using var first = ProxySvid(pki.ExampleCa);
        agent.SetSvid(first, ProxyId, pki.ExampleCa.Certificate);
        agent.SetBundles(Bundles(("example.org", pki.ExampleCa)));
        await agent.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(pki, u => Config(u, agent.SocketPath));
        await Eventually.Until(async () => (await ReadyAsync(proxy)).Status == HttpStatusCode.OK, "the proxy has its SVID and bundles");
        using var caller = pki.Svid();
        var generation = proxy.Host.Config.Generation;

        // Clients keep connecting while the agent rotates the certificate: every call succeeds, before and after.
        using var stop = new CancellationTokenSource();
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var (status, body, server) = await CallAsync(proxy.ProxyUri, caller, pki.ExampleCa.Certificate);
                if (status != HttpStatusCode.OK)
                {
                    failures.Add($"{status}: {body}");
                }
                seen.Add(server!.Thumbprint);
            }
        });
        await Eventually.Until(() => seen.Contains(first.Thumbprint), "clients connect with the first certificate");
        using var second = ProxySvid(pki.ExampleCa);
        agent.SetSvid(second, ProxyId, pki.ExampleCa.Certificate);
        await Eventually.Until(() => seen.Contains(second.Thumbprint), "new connections see the rotated certificate");
        var (lastStatus, _, lastServer) = await CallAsync(proxy.ProxyUri, caller, pki.ExampleCa.Certificate);
        await stop.CancelAsync();
        await load;

        Assert.Equal(HttpStatusCode.OK, lastStatus);
        Assert.Equal(second.Thumbprint, lastServer!.Thumbprint);
        Assert.Empty(failures);
        Assert.Equal(generation, proxy.Host.Config.Generation);
    }

    [Fact]
    public async Task A_bundle_update_changes_which_callers_are_accepted()
    {
        using var pki = new TestPki();
        await using var agent = new WorkloadApiServer(pki.Directory);
        using var svid = ProxySvid(pki.ExampleCa);
        agent.SetSvid(svid, ProxyId, pki.ExampleCa.Certificate);
        agent.SetBundles(Bundles(("example.org", pki.ExampleCa)));
        await agent.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(pki, u => Config(u, agent.SocketPath));
        await Eventually.Until(async () => (await ReadyAsync(proxy)).Status == HttpStatusCode.OK, "the proxy has its SVID and bundles");
        using var oldCaller = pki.Svid();
        using var newCaller = pki.UnknownCa.IssueSvid(TestPki.PaymentsId, TimeSpan.FromHours(1));
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(proxy.ProxyUri, oldCaller, pki.ExampleCa.Certificate)).Status);
        var (refused, refusedBody, _) = await CallAsync(proxy.ProxyUri, newCaller, pki.ExampleCa.Certificate);
        Assert.Equal(HttpStatusCode.Unauthorized, refused);
        Assert.Contains("chain_untrusted", refusedBody, StringComparison.Ordinal);

        // example.org moves to a new CA: callers of the new CA are accepted, those of the old one refused.
        agent.SetBundles(Bundles(("example.org", pki.UnknownCa)));
        await Eventually.Until(async () => (await CallAsync(proxy.ProxyUri, newCaller, pki.ExampleCa.Certificate)).Status == HttpStatusCode.OK, "a caller of the new CA is accepted");
        var (after, afterBody, _) = await CallAsync(proxy.ProxyUri, oldCaller, pki.ExampleCa.Certificate);
        Assert.Equal(HttpStatusCode.Unauthorized, after);
        Assert.Contains("chain_untrusted", afterBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_down_at_start_is_not_ready_with_the_reason_then_ready_when_it_comes_up()
    {
        using var pki = new TestPki();
        await using var agent = new WorkloadApiServer(pki.Directory);
        await using var proxy = await ProxyUnderTest.StartAsync(pki, u => Config(u, agent.SocketPath));

        var (status, body) = await ReadyAsync(proxy);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("not_ready", body.GetProperty("reason").GetString());
        var detail = body.GetProperty("detail").GetString()!;
        Assert.Contains("Workload API", detail, StringComparison.Ordinal);
        Assert.Contains(agent.SocketPath, detail, StringComparison.Ordinal);
        await Eventually.Until(() => proxy.Logs.Text.Contains("Workload API FetchX509SVID", StringComparison.Ordinal), "the proxy logs the failed attempt and retries");
        // Until then no handshake succeeds: there is no certificate to present.
        using var caller = pki.Svid();
        await Assert.ThrowsAsync<HttpRequestException>(() => CallAsync(proxy.ProxyUri, caller, pki.ExampleCa.Certificate));

        using var svid = ProxySvid(pki.ExampleCa);
        agent.SetSvid(svid, ProxyId, pki.ExampleCa.Certificate);
        agent.SetBundles(Bundles(("example.org", pki.ExampleCa)));
        await agent.StartAsync();
        await Eventually.Until(async () => (await ReadyAsync(proxy)).Status == HttpStatusCode.OK, "the proxy becomes ready once the agent is up",
            lastSeen: () => ReadyAsync(proxy).GetAwaiter().GetResult().Body.ToString());
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(proxy.ProxyUri, caller, pki.ExampleCa.Certificate)).Status);
    }

    [Fact]
    public async Task Fetches_a_JWT_SVID_for_a_requested_audience_and_never_logs_it()
    {
        using var pki = new TestPki();
        await using var agent = new WorkloadApiServer(pki.Directory);
        using var svid = ProxySvid(pki.ExampleCa);
        agent.SetSvid(svid, ProxyId, pki.ExampleCa.Certificate);
        agent.SetBundles(Bundles(("example.org", pki.ExampleCa)));
        await agent.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(pki, u => Config(u, agent.SocketPath));
        var workloadApi = proxy.Host.Config.Current.WorkloadApi!;

        var jwt = await workloadApi.FetchJwtSvidAsync(["https://api.example.com"]);

        Assert.Equal(ProxyId, jwt.SpiffeId.Value);
        Assert.Equal(SecretlessProxy.Abstractions.SecretValue.Redacted, jwt.ToString().Split("Token = ")[1].Split(',')[0]);
        var validated = await new JsonWebTokenHandler().ValidateTokenAsync(jwt.Token.Reveal(), new TokenValidationParameters
        {
            ValidAudience = "https://api.example.com",
            ValidateIssuer = false,
            IssuerSigningKey = new ECDsaSecurityKey(agent.JwtKey),
        });
        Assert.True(validated.IsValid, validated.Exception?.Message);
        Assert.Equal(ProxyId, validated.Claims["sub"]);
        Assert.True(jwt.ExpiresAt > DateTimeOffset.UtcNow);
        Assert.DoesNotContain(jwt.Token.Reveal(), proxy.Logs.Text, StringComparison.Ordinal);
        Assert.DoesNotContain(jwt.Token.Reveal().Split('.')[2], proxy.Logs.Text, StringComparison.Ordinal);
    }
}
