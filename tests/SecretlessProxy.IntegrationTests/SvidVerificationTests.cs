using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Every X.509-SVID rule, checked through a real TLS handshake with the proxy: each certificate is minted at
/// test time, presented by an HttpClient, and the verdict read from the response (200 with the token injected
/// upstream, or 401 problem+json with the reason code).
/// </summary>
public sealed class SvidVerificationTests(SharedProxy shared) : IClassFixture<SharedProxy>
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private static CertificateSpec Spec(params string[] uris) => new()
    {
        Subject = "O=SPIFFE",
        Uris = uris,
        NotBefore = Now.AddMinutes(-5),
        NotAfter = Now.AddHours(1),
    };

    private static (X509Certificate2 Leaf, X509Certificate2[] Chain) Make(TestPki pki, string name) => name switch
    {
        "valid" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId)), []),
        "valid via intermediate" => ViaIntermediate(pki),
        "expired" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { NotBefore = Now.AddHours(-2), NotAfter = Now.AddHours(-1) }), []),
        "not yet valid" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { NotBefore = Now.AddHours(1), NotAfter = Now.AddHours(2) }), []),
        "other trust domain's CA" => (pki.ExampleCa.Issue(Spec("spiffe://other.org/ns/payments/sa/api")), []),
        "unknown CA" => (pki.UnknownCa.Issue(Spec(TestPki.PaymentsId)), []),
        "no bundle for the trust domain" => (pki.ExampleCa.Issue(Spec("spiffe://nobundle.org/ns/x")), []),
        "two URI SANs" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId, "spiffe://example.org/ns/other")), []),
        "DNS SAN only" => (pki.ExampleCa.Issue(Spec() with { DnsNames = ["api.example.org"] }), []),
        "no SAN at all" => (pki.ExampleCa.Issue(Spec()), []),
        "CA leaf" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { IsCa = true }), []),
        "keyCertSign leaf" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign }), []),
        "cRLSign leaf" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { KeyUsage = X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.CrlSign }), []),
        "missing digitalSignature" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { KeyUsage = X509KeyUsageFlags.KeyEncipherment }), []),
        "no key usage" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { KeyUsage = null }), []),
        "EKU serverAuth only" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { ExtendedKeyUsages = [CertificateSpec.ServerAuth] }), []),
        "no EKU" => (pki.ExampleCa.Issue(Spec(TestPki.PaymentsId) with { ExtendedKeyUsages = null }), []),
        "root path ID" => (pki.ExampleCa.Issue(Spec("spiffe://example.org")), []),
        "ID of 2048 bytes" => (pki.ExampleCa.Issue(Spec("spiffe://example.org/" + new string('a', 2048 - "spiffe://example.org/".Length))), []),
        _ when name.StartsWith("malformed ", StringComparison.Ordinal) => (pki.ExampleCa.Issue(Spec(name["malformed ".Length..])), []),
        _ => throw new ArgumentException(name),
    };

    private static (X509Certificate2, X509Certificate2[]) ViaIntermediate(TestPki pki)
    {
        using var intermediate = DevCertificateAuthority.Create("example.org intermediate", TimeSpan.FromDays(1), pki.ExampleCa);
        var leaf = intermediate.Issue(Spec(TestPki.PaymentsId));
        return (leaf, [X509CertificateLoader.LoadCertificate(intermediate.Certificate.RawData)]);
    }

    [Theory]
    [InlineData("valid", null)]
    [InlineData("valid via intermediate", null)]
    [InlineData("no EKU", null)]
    [InlineData("ID of 2048 bytes", "no_rule_matched")]
    [InlineData("expired", "certificate_expired")]
    [InlineData("not yet valid", "certificate_not_yet_valid")]
    [InlineData("other trust domain's CA", "chain_untrusted")]
    [InlineData("unknown CA", "chain_untrusted")]
    [InlineData("no bundle for the trust domain", "trust_domain_unknown")]
    [InlineData("two URI SANs", "uri_san_multiple")]
    [InlineData("DNS SAN only", "uri_san_missing")]
    [InlineData("no SAN at all", "uri_san_missing")]
    [InlineData("CA leaf", "leaf_is_ca")]
    [InlineData("keyCertSign leaf", "key_usage_cert_sign")]
    [InlineData("cRLSign leaf", "key_usage_cert_sign")]
    [InlineData("missing digitalSignature", "key_usage_no_digital_signature")]
    [InlineData("no key usage", "key_usage_missing")]
    [InlineData("EKU serverAuth only", "eku_no_client_auth")]
    [InlineData("root path ID", "spiffe_id_root_path")]
    [InlineData("malformed https://example.org/ns/payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://Example.org/ns/payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org:443/ns/payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://user@example.org/ns/payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns/payments/sa/api/", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns//payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns/./payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns/../ns/payments/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns/pay%6Dents/sa/api", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns/payments/sa/api?x=1", "spiffe_id_invalid")]
    [InlineData("malformed spiffe://example.org/ns/payments/sa/api#x", "spiffe_id_invalid")]
    [InlineData("malformed spiffe:///ns/payments/sa/api", "spiffe_id_invalid")]
    public async Task Client_certificate_verdict(string certificate, string? expectedReason)
    {
        var (leaf, chain) = Make(shared.Pki, certificate);
        using var client = shared.Pki.Client(leaf, HttpVersion.Version11, chain);
        var before = shared.Proxy.Upstream.Requests.Count;
        using var response = await client.GetAsync(new Uri(shared.Proxy.ProxyUri, "/allowed/x"));
        var body = await response.Content.ReadAsStringAsync();
        if (expectedReason is null)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(RecordingUpstream.Body, body);
            return;
        }
        Assert.Equal(expectedReason == "no_rule_matched" ? HttpStatusCode.Forbidden : HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(expectedReason, JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString());
        Assert.Equal(before, shared.Proxy.Upstream.Requests.Count);
    }

    [Fact]
    public async Task No_client_certificate_gets_401()
    {
        using var client = shared.Pki.Client(null);
        using var response = await client.GetAsync(new Uri(shared.Proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("client_certificate_required", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Refusal_is_logged_with_its_reason_and_recorded()
    {
        using var client = shared.Pki.Client(Make(shared.Pki, "expired").Leaf);
        using var response = await client.GetAsync(new Uri(shared.Proxy.ProxyUri, "/allowed/logged"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var requestId = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("requestId").GetString();
        var record = await shared.Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("requestId").GetString() == requestId);
        Assert.Equal("deny", record.GetProperty("outcome").GetString());
        Assert.Equal("certificate_expired", record.GetProperty("reason").GetString());
        Assert.Equal(JsonValueKind.Null, record.GetProperty("identity").ValueKind);
        Assert.Contains(shared.Proxy.Logs.Lines, l => l.Contains("[1201]", StringComparison.Ordinal) && l.Contains("certificate_expired", StringComparison.Ordinal));
    }
}
