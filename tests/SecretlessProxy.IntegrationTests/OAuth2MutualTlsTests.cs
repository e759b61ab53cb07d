using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.DevCa;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// RFC 8705 against the real oidc-provider over HTTPS (mTLS on, certificate read from its TLS socket): the
/// <c>oauth2-client-credentials</c> provider authenticates with <c>tls_client_auth</c> and
/// <c>self_signed_tls_client_auth</c> (client_id in the body, no secret, the certificate on the connection), and the
/// certificate-bound token (<c>cnf.x5t#S256</c>) reaches an upstream that checks the binding by introspection over a
/// connection presenting the same certificate.
/// </summary>
public sealed class OAuth2MutualTlsTests : IDisposable
{
    private const string UpstreamSecret = "canary-upstream-introspection-secret-91e4";
    private const string ClientUri = "spiffe://example.org/ns/infra/sa/secretless-proxy";

    private readonly TestPki _pki = new();

    public OAuth2MutualTlsTests() => _pki.WriteInterceptionCa();

    private static string X5t(X509Certificate2 certificate) => Base64Url(SHA256.HashData(certificate.RawData));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private X509Certificate2 Issued(string name)
    {
        var now = DateTimeOffset.UtcNow;
        var certificate = _pki.ServerCa.Issue(new CertificateSpec { Subject = "CN=" + name, Uris = [ClientUri], NotBefore = now.AddMinutes(-5), NotAfter = now.AddHours(1) });
        DevCertificateAuthority.WritePem(certificate, Path.Combine(_pki.Directory, name + ".pem"), Path.Combine(_pki.Directory, name + ".key"));
        return certificate;
    }

    private X509Certificate2 SelfSigned(string name, out object jwk)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(CertificateSpec.ClientAuth)], false));
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        DevCertificateAuthority.WritePem(certificate, Path.Combine(_pki.Directory, name + ".pem"), Path.Combine(_pki.Directory, name + ".key"));
        var q = key.ExportParameters(false).Q;
        jwk = new Dictionary<string, object> { ["kty"] = "EC", ["crv"] = "P-256", ["x"] = Base64Url(q.X!), ["y"] = Base64Url(q.Y!), ["use"] = "sig", ["x5c"] = new[] { Convert.ToBase64String(certificate.RawData) } };
        return certificate;
    }

    private static Dictionary<string, object> Client(string id, string method, object extra) => new Dictionary<string, object>
    {
        ["client_id"] = id,
        ["token_endpoint_auth_method"] = method,
        ["tls_client_certificate_bound_access_tokens"] = true,
        ["grant_types"] = new[] { "client_credentials" },
        ["redirect_uris"] = Array.Empty<string>(),
        ["response_types"] = Array.Empty<string>(),
    }.Concat(JsonSerializer.SerializeToElement(extra).EnumerateObject().ToDictionary(p => p.Name, p => (object)p.Value)).ToDictionary();

    private static string Credential(string name, OidcServer oidc, string clientId, string auth, string file) => $$"""
          {{name}}:
            provider: oauth2-client-credentials
            tokenUrl: {{oidc.TokenUrl}}
            clientId: {{clientId}}
            clientAuth: {{auth}}
            clientCertificate: { certFile: {{file}}.pem, keyFile: {{file}}.key }
            caFile: server-ca.pem
        """;

    private static string Config(MtlsUpstream upstream, string credentials) => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
          - name: fwd
            url: unix:fwd-{{upstream.Port}}.sock
            forwardProxy:
              interceptionCa: { cert: interception/ca.pem, key: interception/ca.key }
              upstreamCaFile: server-ca.pem
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          payments: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        credentials:
        {{credentials}}
        policies:
          - { name: payments, allow: [payments], routes: [bound, self, wrong] }
        ReverseProxy:
          Routes:
            bound: { ClusterId: upstream, Match: { Path: "/bound/{**rest}" }, Metadata: { Credential: bound } }
            self: { ClusterId: upstream, Match: { Path: "/self/{**rest}" }, Metadata: { Credential: self } }
            wrong: { ClusterId: upstream, Match: { Path: "/wrong/{**rest}" }, Metadata: { Credential: wrong } }
          Clusters:
            upstream:
              Destinations: { d1: { Address: "{{upstream.Address}}" } }
        """;

    /// <summary>A resource server as RFC 8705 §3 has it: the token must be active and bound to the certificate of the connection it came on.</summary>
    private Func<HttpContext, X509Certificate2, Task> CheckBinding(Func<OidcServer> oidc, List<string> tokens) => async (context, presented) =>
    {
        var token = context.Request.Headers.Authorization.ToString() is { } header && header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : "";
        lock (tokens)
        {
            tokens.Add(token);
        }
        using var http = _pki.Client(null);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(oidc().Issuer, "/token/introspection"))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("upstream:" + UpstreamSecret)));
        using var response = await http.SendAsync(request);
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var bound = answer.TryGetProperty("cnf", out var cnf) && cnf.TryGetProperty("x5t#S256", out var x5t) ? x5t.GetString() : null;
        var ok = answer.TryGetProperty("active", out var active) && active.GetBoolean() && bound == X5t(presented);
        context.Response.StatusCode = ok ? 200 : 401;
        await context.Response.WriteAsync(ok ? "{\"bound\":\"" + bound + "\"}" : "{\"error\":\"invalid_token\",\"bound\":\"" + bound + "\"}");
    };

    [Fact]
    public async Task Tls_client_auth_and_self_signed_tls_client_auth_get_bound_tokens_that_the_upstream_accepts_only_with_the_certificate()
    {
        using var issued = Issued("proxy-client");
        using var selfSigned = SelfSigned("proxy-self", out var jwk);
        using var stranger = Issued("stranger");
        var keyLines = new[] { "proxy-client.key", "proxy-self.key" }.Select(f => File.ReadAllLines(Path.Combine(_pki.Directory, f))[1]).ToList();
        OidcServer? oidc = null;
        var tokens = new List<string>();
        await using var upstream = await MtlsUpstream.StartAsync(_pki, CheckBinding(() => oidc!, tokens), issued, selfSigned, stranger);
        oidc = await OidcServer.StartAsync(_pki.Directory,
        [
            Client("proxy-mtls", "tls_client_auth", new { tls_client_auth_san_uri = ClientUri }),
            Client("proxy-self", "self_signed_tls_client_auth", new { jwks = new { keys = new[] { jwk } } }),
            new { client_id = "upstream", client_secret = UpstreamSecret, grant_types = Array.Empty<string>(), redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_basic" },
        ], tls: (Path.Combine(_pki.Directory, "server.pem"), Path.Combine(_pki.Directory, "server.key"), _pki.ServerCaPath));
        await using var stopOidc = oidc;
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(upstream,
            Credential("bound", oidc, "proxy-mtls", "tls_client_auth", "proxy-client")
            + "\n" + Credential("self", oidc, "proxy-self", "self_signed_tls_client_auth", "proxy-self")
            // tls_client_auth with a certificate the server's CA did not issue: the token endpoint refuses the client.
            + "\n" + Credential("wrong", oidc, "proxy-mtls", "tls_client_auth", "proxy-self")));
        using var client = proxy.Client();

        using (var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/bound/charges")))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body + "\n" + oidc.Output);
            Assert.Contains(X5t(issued), body, StringComparison.Ordinal);
        }
        using (var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/self/charges")))
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, body + "\n" + oidc.Output);
            Assert.Contains(X5t(selfSigned), body, StringComparison.Ordinal);
        }
        // The server bound each token to the certificate its client authenticated with.
        Assert.Equal(2, await oidc.TokensIssuedAsync(2));
        Assert.Equal(new[] { X5t(issued), X5t(selfSigned) }.Order(StringComparer.Ordinal), oidc.BoundTokens.Values.Order(StringComparer.Ordinal));

        using (var refused = await client.GetAsync(new Uri(proxy.ProxyUri, "/wrong/charges")))
        {
            var body = await refused.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            Assert.Contains("credential_unavailable", body, StringComparison.Ordinal);
            Assert.Contains("invalid_client", body, StringComparison.Ordinal);
        }

        // The bound token is worth nothing over a connection presenting another certificate.
        var stolen = tokens[0];
        using var thief = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                ClientCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(stranger, null, offline: true),
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.Issuer == _pki.ServerCa.Certificate.Subject,
            },
        });
        using var replay = new HttpRequestMessage(HttpMethod.Get, new Uri(upstream.Address, "/bound/replayed"));
        replay.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", stolen);
        using var replayed = await thief.SendAsync(replay);
        Assert.Equal(HttpStatusCode.Unauthorized, replayed.StatusCode);

        // Neither key, nor a token, nor the upstream's secret shows up in the proxy's logs or records.
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text })
        {
            foreach (var secret in keyLines.Concat(tokens))
            {
                Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
            }
        }
    }

    public void Dispose() => _pki.Dispose();
}
