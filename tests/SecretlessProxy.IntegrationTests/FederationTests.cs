using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
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
/// SPIFFE federation against a bundle endpoint served over real TLS on loopback (both profiles): a caller of the
/// foreign trust domain is refused until its bundle arrived and accepted after; a CA rotated at the endpoint is
/// picked up at the refresh hint; an endpoint that goes down or serves a malformed bundle leaves the last good one
/// in force; and the proxy's own bundle endpoint serves a bundle a peer can read.
/// </summary>
public sealed class FederationTests : IDisposable
{
    private const string PartnerCaller = "spiffe://partner.example/ns/batch/sa/settlement";
    private const string EndpointId = "spiffe://partner.example/spire/server";

    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    /// <summary>A bundle document as a SPIRE server publishes it: each CA an x509-svid key, a 1 s refresh hint.</summary>
    private static string BundleJson(long sequence, params DevCertificateAuthority[] cas) => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["keys"] = cas.Select(ca => new Dictionary<string, object>
        {
            ["use"] = "x509-svid",
            ["kty"] = "EC",
            ["x5c"] = new[] { Convert.ToBase64String(ca.Certificate.RawData) },
        }).ToArray(),
        ["spiffe_sequence"] = sequence,
        ["spiffe_refresh_hint"] = 1,
    });

    private static string Config(Uri upstream, string federation) => $"spiffe:\n  federation:\n{federation}" + ProxyUnderTest.DefaultConfig(upstream,
            extraPolicies: "  - name: partner-uses-allowed\n    allow: [partner]\n    routes: [allowed]\n")
        .Replace("identities:\n", $"identities:\n  partner: {{ spiffeId: {PartnerCaller} }}\n", StringComparison.Ordinal);

    private static string WebEntry(Uri endpoint, string caFile) =>
        $"    partner.example: {{ bundleEndpoint: \"{endpoint}bundle\", profile: https_web, caFile: {caFile}, minRefresh: 0.2s, maxRefresh: 2s }}\n";

    private async Task<(HttpStatusCode Status, string Reason)> CallAsync(ProxyUnderTest proxy, X509Certificate2 svid)
    {
        using var client = _pki.Client(svid);
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        var body = await response.Content.ReadAsStringAsync();
        var reason = response.StatusCode == HttpStatusCode.OK ? "" : JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString() ?? "";
        return (response.StatusCode, reason);
    }

    [Fact]
    public async Task Https_web_bundle_arrives_rotates_survives_a_malformed_bundle_and_an_outage()
    {
        using var partnerCa = DevCertificateAuthority.Create("partner CA", TimeSpan.FromDays(1), trustDomain: "partner.example");
        using var rotatedCa = DevCertificateAuthority.Create("partner CA 2", TimeSpan.FromDays(1), trustDomain: "partner.example");
        var endpointCertificate = _pki.ServerCa.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        await using var endpoint = await BundleServer.StartAsync(endpointCertificate);
        endpoint.Answer = (503, "{}");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, WebEntry(endpoint.Address, _pki.ServerCaPath)));
        var first = partnerCa.IssueSvid(PartnerCaller, TimeSpan.FromHours(1));
        var second = rotatedCa.IssueSvid(PartnerCaller, TimeSpan.FromHours(1));

        // Before the bundle arrived: the trust domain is unknown, and the failed fetches are logged.
        await Eventually.Until(() => proxy.Logs.Lines.Any(l => l.Contains("[7102]", StringComparison.Ordinal) && l.Contains("503", StringComparison.Ordinal)), "the failed fetch is logged");
        Assert.Equal((HttpStatusCode.Unauthorized, "trust_domain_unknown"), await CallAsync(proxy, first));

        endpoint.Answer = (200, BundleJson(1, partnerCa));
        await Eventually.Until(async () => (await CallAsync(proxy, first)).Status == HttpStatusCode.OK, "a partner caller is accepted once the bundle arrived");
        Assert.Equal((HttpStatusCode.Unauthorized, "chain_untrusted"), await CallAsync(proxy, second));

        // The partner rotates its CA: picked up at the 1 s refresh hint, the old CA no longer trusted.
        endpoint.Answer = (200, BundleJson(2, rotatedCa));
        await Eventually.Until(async () => (await CallAsync(proxy, second)).Status == HttpStatusCode.OK, "the rotated CA is picked up");
        Assert.Equal((HttpStatusCode.Unauthorized, "chain_untrusted"), await CallAsync(proxy, first));

        // A malformed bundle (an x509-svid key with two certificates) is refused; the last good bundle stays.
        var malformed = BundleJson(3, rotatedCa).Replace("\"x5c\":[", $"\"x5c\":[\"{Convert.ToBase64String(partnerCa.Certificate.RawData)}\",", StringComparison.Ordinal);
        endpoint.Answer = (200, malformed);
        await Eventually.Until(() => proxy.Logs.Lines.Any(l => l.Contains("[7102]", StringComparison.Ordinal) && l.Contains("exactly one", StringComparison.Ordinal)), "the malformed bundle is refused with its reason");
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(proxy, second)).Status);
        Assert.Equal((HttpStatusCode.Unauthorized, "chain_untrusted"), await CallAsync(proxy, first));

        // The endpoint goes down: the last good bundle stays, the failure is audited and counted.
        await endpoint.DisposeAsync();
        await Eventually.Until(() => proxy.Logs.Lines.Any(l => l.Contains("[7102]", StringComparison.Ordinal) && (l.Contains("refused", StringComparison.OrdinalIgnoreCase) || l.Contains("connect", StringComparison.OrdinalIgnoreCase))),
            "the unreachable endpoint is logged", lastSeen: () => string.Join("\n", proxy.Logs.Lines.Where(l => l.Contains("[7102]", StringComparison.Ordinal)).TakeLast(3)));
        Assert.Equal(HttpStatusCode.OK, (await CallAsync(proxy, second)).Status);
        // The first failures (before any bundle) kept none; the later ones say the last good bundle was kept.
        var before = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("kind", out var kind) && kind.GetString() == "federation.refresh_failed");
        Assert.False(before.GetProperty("lastGoodKept").GetBoolean());
        var audit = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("kind", out var kind) && kind.GetString() == "federation.refresh_failed"
            && r.GetProperty("lastGoodKept").GetBoolean());
        Assert.Equal("partner.example", audit.GetProperty("trustDomain").GetString());
        Assert.StartsWith("https://127.0.0.1:", audit.GetProperty("endpoint").GetString(), StringComparison.Ordinal);
        using var admin = new HttpClient();
        var metrics = await admin.GetStringAsync(new Uri(proxy.AdminUri, "/metrics"));
        Assert.Contains("secretless_federation_bundle_refreshes_total{trust_domain=\"partner.example\",result=\"failed\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("secretless_federation_bundle_refreshes_total{trust_domain=\"partner.example\",result=\"ok\"}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Https_web_endpoint_with_an_untrusted_certificate_is_never_believed()
    {
        using var partnerCa = DevCertificateAuthority.Create("partner CA", TimeSpan.FromDays(1), trustDomain: "partner.example");
        // Served with a certificate of a CA the config does not name.
        var endpointCertificate = partnerCa.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        await using var endpoint = await BundleServer.StartAsync(endpointCertificate);
        endpoint.Answer = (200, BundleJson(1, partnerCa));
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, WebEntry(endpoint.Address, _pki.ServerCaPath)));
        await Eventually.Until(() => proxy.Logs.Lines.Any(l => l.Contains("[7102]", StringComparison.Ordinal)), "the TLS failure is logged");
        Assert.Equal(0, endpoint.Served);
        Assert.Equal((HttpStatusCode.Unauthorized, "trust_domain_unknown"), await CallAsync(proxy, partnerCa.IssueSvid(PartnerCaller, TimeSpan.FromHours(1))));
    }

    [Fact]
    public async Task Https_spiffe_endpoint_is_authenticated_by_its_svid_and_follows_the_rotation()
    {
        using var partnerCa = DevCertificateAuthority.Create("partner CA", TimeSpan.FromDays(1), trustDomain: "partner.example");
        using var rotatedCa = DevCertificateAuthority.Create("partner CA 2", TimeSpan.FromDays(1), trustDomain: "partner.example");
        var bootstrap = Path.Combine(_pki.Directory, "partner-bootstrap.pem");
        await File.WriteAllTextAsync(bootstrap, partnerCa.Certificate.ExportCertificatePem());
        X509Certificate2 EndpointSvid(DevCertificateAuthority ca, string id) => ca.Issue(new CertificateSpec
        {
            Subject = "O=SPIRE",
            Uris = [id],
            NotBefore = DateTimeOffset.UtcNow.AddMinutes(-5),
            NotAfter = DateTimeOffset.UtcNow.AddHours(1),
            ExtendedKeyUsages = [CertificateSpec.ServerAuth, CertificateSpec.ClientAuth],
        });
        await using var endpoint = await BundleServer.StartAsync(EndpointSvid(partnerCa, EndpointId));
        endpoint.Answer = (200, BundleJson(1, partnerCa, rotatedCa));
        var entry = $"    partner.example: {{ bundleEndpoint: \"{endpoint.Address}bundle\", profile: https_spiffe, endpointSpiffeId: {EndpointId}, bootstrapBundle: partner-bootstrap.pem, minRefresh: 0.2s, maxRefresh: 2s }}\n";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, entry));
        var second = rotatedCa.IssueSvid(PartnerCaller, TimeSpan.FromHours(1));
        await Eventually.Until(async () => (await CallAsync(proxy, second)).Status == HttpStatusCode.OK, "the bundle fetched over https_spiffe is trusted");

        // The endpoint moves to an SVID of the rotated CA, which only the fetched bundle (not the bootstrap) holds.
        await endpoint.DisposeAsync();
        await using var moved = await BundleServer.StartAsync(EndpointSvid(rotatedCa, EndpointId), endpoint.Port);
        moved.Answer = (200, BundleJson(2, rotatedCa));
        await Eventually.Until(async () => (await CallAsync(proxy, partnerCa.IssueSvid(PartnerCaller, TimeSpan.FromHours(1)))).Reason == "chain_untrusted",
            "the next bundle is fetched from the endpoint authenticated by the bundle fetched before");
        Assert.True(moved.Served > 0);
    }

    [Fact]
    public async Task Https_spiffe_endpoint_with_another_spiffe_id_is_refused()
    {
        using var partnerCa = DevCertificateAuthority.Create("partner CA", TimeSpan.FromDays(1), trustDomain: "partner.example");
        var bootstrap = Path.Combine(_pki.Directory, "partner-bootstrap.pem");
        await File.WriteAllTextAsync(bootstrap, partnerCa.Certificate.ExportCertificatePem());
        await using var endpoint = await BundleServer.StartAsync(partnerCa.Issue(new CertificateSpec
        {
            Subject = "O=SPIRE",
            Uris = ["spiffe://partner.example/not-the-server"],
            NotBefore = DateTimeOffset.UtcNow.AddMinutes(-5),
            NotAfter = DateTimeOffset.UtcNow.AddHours(1),
            ExtendedKeyUsages = [CertificateSpec.ServerAuth],
        }));
        endpoint.Answer = (200, BundleJson(1, partnerCa));
        var entry = $"    partner.example: {{ bundleEndpoint: \"{endpoint.Address}bundle\", profile: https_spiffe, endpointSpiffeId: {EndpointId}, bootstrapBundle: partner-bootstrap.pem, minRefresh: 0.2s, maxRefresh: 2s }}\n";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, entry));
        await Eventually.Until(() => proxy.Logs.Lines.Any(l => l.Contains("[7102]", StringComparison.Ordinal)), "the refused endpoint is logged");
        Assert.Equal(0, endpoint.Served);
        Assert.Equal((HttpStatusCode.Unauthorized, "trust_domain_unknown"), await CallAsync(proxy, partnerCa.IssueSvid(PartnerCaller, TimeSpan.FromHours(1))));
    }

    [Fact]
    public async Task Own_bundle_endpoint_serves_a_bundle_a_federating_proxy_trusts()
    {
        var config = (Uri u) => "spiffe:\n  bundleEndpoint: { listener: mtls, path: /bundle, trustDomain: example.org, refreshHint: 7s }\n" + ProxyUnderTest.DefaultConfig(u);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, config);
        using var client = _pki.Client(null);
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/bundle"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(7, body.GetProperty("spiffe_refresh_hint").GetInt32());
        Assert.Equal(1, body.GetProperty("spiffe_sequence").GetInt64());
        var key = Assert.Single(body.GetProperty("keys").EnumerateArray());
        Assert.Equal("x509-svid", key.GetProperty("use").GetString());
        Assert.Equal(Convert.ToBase64String(_pki.ExampleCa.Certificate.RawData), Assert.Single(key.GetProperty("x5c").EnumerateArray()).GetString());
        Assert.False(key.TryGetProperty("d", out _));

        // A second proxy federates with example.org through it (https_web, the first proxy's server CA).
        using var otherPki = new TestPki();
        var federating = (Uri u) => $"spiffe:\n  federation:\n    example.org: {{ bundleEndpoint: \"{new Uri(proxy.ProxyUri, "/bundle")}\", profile: https_web, caFile: {_pki.ServerCaPath}, minRefresh: 0.2s }}\n"
            + ProxyUnderTest.DefaultConfig(u).Replace("      example.org: example.org.pem\n", "", StringComparison.Ordinal);
        await using var peer = await ProxyUnderTest.StartAsync(otherPki, federating);
        await Eventually.Until(async () =>
        {
            using var caller = otherPki.Client(_pki.Svid());
            using var answer = await caller.GetAsync(new Uri(peer.ProxyUri, "/allowed/x"));
            return answer.StatusCode == HttpStatusCode.OK;
        }, "the peer trusts example.org callers with the bundle it fetched from the first proxy");
    }

    /// <summary>A SPIFFE bundle endpoint on loopback over TLS with the given certificate, answering what the test sets.</summary>
    private sealed class BundleServer : IAsyncDisposable
    {
        private sealed record Reply(int Status, string Body);

        private WebApplication? _app;
        private int _served;

        public Uri Address { get; private set; } = null!;

        public int Port => Address.Port;

        private volatile Reply _answer = new(503, "");

        public (int Status, string Body) Answer
        {
            get => (_answer.Status, _answer.Body);
            set => _answer = new Reply(value.Status, value.Body);
        }

        public int Served => Volatile.Read(ref _served);

        public static async Task<BundleServer> StartAsync(X509Certificate2 certificate, int port = 0)
        {
            var server = new BundleServer();
            var usable = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, listen => listen.UseHttps(usable)));
            var app = builder.Build();
            app.Run(async context =>
            {
                Interlocked.Increment(ref server._served);
                var (status, body) = server.Answer;
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(body);
            });
            await app.StartAsync();
            server._app = app;
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.Address = new Uri(address + "/");
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _app, null) is { } app)
            {
                await app.DisposeAsync();
            }
        }
    }
}
