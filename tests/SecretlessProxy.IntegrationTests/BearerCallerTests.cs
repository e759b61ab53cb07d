using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Bearer-token callers (issue 19 §2): ID tokens from a real oidc-provider (found through discovery) stand in for CI
/// and Kubernetes tokens, a JWKS the test controls stands in for a rotating JWT-SVID issuer. The token names the
/// caller, policy matches its facts, and it is never forwarded, logged or echoed.
/// </summary>
public sealed class BearerCallerTests : IAsyncLifetime
{
    private const string Secret = "workload-secret-0c1d";
    private const string PaymentsCi = "spiffe://ci.example.org/github/octo-org/payments";
    private const string Checkout = "spiffe://cluster.example.org/ns/shop/sa/checkout";
    private const string Rotator = "spiffe://example.org/ns/jobs/sa/rotator";

    private static readonly Dictionary<string, string> MainBranch = new() { ["repository"] = "octo-org/payments", ["ref"] = "refs/heads/main" };

    private readonly TestPki _pki = new();
    private readonly List<string> _tokens = [];
    private OidcServer _ci = null!;
    private OidcServer _cluster = null!;

    public async Task InitializeAsync()
    {
        _ci = await OidcServer.StartAsync(_pki.Directory, Clients());
        _cluster = await OidcServer.StartAsync(_pki.Directory, Clients());
    }

    public async Task DisposeAsync()
    {
        await _ci.DisposeAsync();
        await _cluster.DisposeAsync();
        _pki.Dispose();
    }

    private static object[] Clients() =>
    [
        new
        {
            client_id = "secretless-proxy", client_secret = Secret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
            grant_types = new[] { OidcServer.IdTokenGrant }, token_endpoint_auth_method = "client_secret_basic",
        },
        new
        {
            client_id = "another-service", client_secret = Secret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
            grant_types = new[] { OidcServer.IdTokenGrant }, token_endpoint_auth_method = "client_secret_basic",
        },
    ];

    private string Config(Uri upstream, Uri? jwks = null) => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
            bearer: { header: X-Workload-Token, issuers: [ci] }
          - name: local
            url: http://127.0.0.1:0
            bearer: { issuers: [ci{{(jwks is null ? "" : ", rotating")}}] }
          - name: cluster
            url: http://127.0.0.1:0
            bearer: { header: X-Workload-Token, issuers: [k8s] }
          - name: wide
            url: http://0.0.0.0:0
            bearer: { issuers: [ci] }
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        tokenIssuers:
          ci:
            issuer: http://127.0.0.1:{{_ci.Port}}
            audiences: [secretless-proxy]
            mapping: claims
            spiffeId: spiffe://ci.example.org/github/{repository}
            facts: [ref]
          k8s:
            issuer: http://127.0.0.1:{{_cluster.Port}}
            audiences: [secretless-proxy]
            mapping: kubernetes
            trustDomain: cluster.example.org
        {{(jwks is null ? "" : $$"""
          rotating:
            issuer: {{jwks.GetLeftPart(UriPartial.Authority)}}
            jwksUrl: {{jwks}}
            audiences: [secretless-proxy]
            algorithms: [RS256]
            mapping: jwt-svid
            trustDomain: example.org
            refreshInterval: 1h
            cacheFor: 2h
        """)}}
        identities:
          payments-ci: { spiffeId: {{PaymentsCi}} }
          checkout: { spiffeId: {{Checkout}} }
          rotator: { spiffeId: {{Rotator}} }
        credentials:
          github:
            provider: file
            path: github-token.txt
            inject: { type: header, name: Authorization, template: "Bearer {token}" }
        policies:
          - name: payments-from-main
            allow: [payments-ci]
            routes: [allowed]
            when: { attestation: jwt, claim.ref: refs/heads/main }
          - name: others
            allow: [checkout, rotator]
            routes: [allowed]
        ReverseProxy:
          Routes:
            allowed: { ClusterId: upstream, Match: { Path: "/allowed/{**rest}" }, Metadata: { Credential: github } }
          Clusters:
            upstream:
              Destinations:
                d1: { Address: "{{upstream}}" }
        """;

    private async Task<string> CiTokenAsync(IReadOnlyDictionary<string, string> claims, string client = "secretless-proxy", int expiresIn = 300, OidcServer? server = null, string subject = "repo:octo-org/payments:ref:refs/heads/main")
    {
        var token = await (server ?? _ci).IdTokenAsync(client, Secret, subject, expiresIn: expiresIn, claims: claims);
        _tokens.Add(token);
        return token;
    }

    private static async Task<(int Status, string Body)> SendAsync(HttpClient http, Uri listener, string? header, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(listener, "/allowed/x"));
        if (header is not null && token is not null)
        {
            request.Headers.TryAddWithoutValidation(header, header == "Authorization" ? "Bearer " + token : token);
        }
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        // Canary: an answer never quotes the token.
        if (token is { Length: > 16 })
        {
            Assert.DoesNotContain(token, body, StringComparison.Ordinal);
            Assert.DoesNotContain(token[(token.LastIndexOf('.') + 1)..] is { Length: > 16 } signature ? signature : "\0", body, StringComparison.Ordinal);
        }
        return ((int)response.StatusCode, body);
    }

    private static void AssertRefused((int Status, string Body) answer, string reason, int status = 401)
    {
        Assert.True(answer.Status == status, $"expected {status} {reason}, got {answer.Status}: {answer.Body}");
        Assert.Equal(reason, JsonDocument.Parse(answer.Body).RootElement.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_valid_token_names_the_caller_policy_matches_its_claims_and_the_token_is_not_forwarded()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, upstream => Config(upstream));
        using var http = new HttpClient();
        var local = proxy.Host.GetListenerUri("local");

        var token = await CiTokenAsync(MainBranch);
        var answer = await SendAsync(http, local, "Authorization", token);
        Assert.True(answer.Status == 200, answer.Body);
        var received = Assert.Single(proxy.Upstream.Requests);
        // The upstream sees the injected credential in Authorization, never the caller's token.
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, received.Headers["Authorization"]);
        Assert.DoesNotContain(received.Headers.Values, v => v.Contains(token, StringComparison.Ordinal));
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "local");
        Assert.Equal(PaymentsCi, record.GetProperty("identity").GetString());
        Assert.Equal("jwt", record.GetProperty("attestation").GetString());

        // Another branch of the same repository: the same identity, but the rule's claim.ref does not hold.
        var feature = await CiTokenAsync(new Dictionary<string, string> { ["repository"] = "octo-org/payments", ["ref"] = "refs/heads/feature" });
        AssertRefused(await SendAsync(http, local, "Authorization", feature), "no_rule_matched", 403);

        // Over TLS without a client certificate, in the listener's own header; still not forwarded.
        using var tls = _pki.Client(null);
        var mtls = proxy.Host.GetListenerUri("mtls");
        Assert.Equal(200, (await SendAsync(tls, mtls, "X-Workload-Token", token)).Status);
        Assert.Equal(2, proxy.Upstream.Requests.Count);
        Assert.DoesNotContain(proxy.Upstream.Requests, r => r.Headers.ContainsKey("X-Workload-Token"));
        AssertRefused(await SendAsync(tls, mtls, null, null), "bearer_token_missing");

        // A Kubernetes service-account token: system:serviceaccount:shop:checkout is spiffe://cluster.example.org/ns/shop/sa/checkout.
        var serviceAccount = await CiTokenAsync(new Dictionary<string, string>(), server: _cluster, subject: "system:serviceaccount:shop:checkout");
        Assert.Equal(200, (await SendAsync(http, proxy.Host.GetListenerUri("cluster"), "X-Workload-Token", serviceAccount)).Status);
        var checkout = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "cluster");
        Assert.Equal(Checkout, checkout.GetProperty("identity").GetString());
        AssertNoTokenLeaked(proxy);
    }

    [Fact]
    public async Task Expired_foreign_and_forged_tokens_are_refused_with_their_reason()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, upstream => Config(upstream));
        using var http = new HttpClient();
        var local = proxy.Host.GetListenerUri("local");

        AssertRefused(await SendAsync(http, local, null, null), "bearer_token_missing");
        AssertRefused(await SendAsync(http, local, "Authorization", "not-a-jwt"), "bearer_token_malformed");
        AssertRefused(await SendAsync(http, local, "Authorization", await CiTokenAsync(MainBranch, expiresIn: -120)), "bearer_token_expired");
        AssertRefused(await SendAsync(http, local, "Authorization", await CiTokenAsync(MainBranch, client: "another-service")), "bearer_token_audience_mismatch");
        // The cluster's issuer is real, but this listener does not trust it.
        AssertRefused(await SendAsync(http, local, "Authorization", await CiTokenAsync(MainBranch, server: _cluster)), "bearer_token_issuer_unknown");

        // alg: none, with the claims of a valid token.
        var valid = new JsonWebToken(await CiTokenAsync(MainBranch));
        var claims = JsonSerializer.Deserialize<Dictionary<string, object>>(Encoding.UTF8.GetString(Base64UrlEncoder.DecodeBytes(valid.EncodedPayload)))!;
        var unsigned = Base64UrlEncoder.Encode("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "." + valid.EncodedPayload + ".";
        _tokens.Add(unsigned);
        AssertRefused(await SendAsync(http, local, "Authorization", unsigned), "bearer_token_algorithm_refused");

        // HS256 signed with the issuer's public key (from its JWKS) as the HMAC secret: the classic key-confusion forgery.
        var jwks = await http.GetStringAsync(new Uri($"http://127.0.0.1:{_ci.Port}/jwks"));
        var forged = new JsonWebTokenHandler().CreateToken(JsonSerializer.Serialize(claims),
            new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(jwks)) { KeyId = valid.Kid }, SecurityAlgorithms.HmacSha256));
        _tokens.Add(forged);
        AssertRefused(await SendAsync(http, local, "Authorization", forged), "bearer_token_algorithm_refused");

        // A valid token's signature under other claims.
        var other = new Dictionary<string, object>(claims) { ["repository"] = "octo-org/admin" };
        var tampered = valid.EncodedHeader + "." + Base64UrlEncoder.Encode(JsonSerializer.Serialize(other)) + "." + valid.EncodedSignature;
        _tokens.Add(tampered);
        AssertRefused(await SendAsync(http, local, "Authorization", tampered), "bearer_token_signature_invalid");
        Assert.Empty(proxy.Upstream.Requests);
        AssertNoTokenLeaked(proxy);
    }

    [Fact]
    public async Task A_token_in_clear_text_from_beyond_this_host_is_refused()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, upstream => Config(upstream));
        var token = await CiTokenAsync(MainBranch);
        var address = NonLoopbackAddress();
        var wide = proxy.Host.GetListenerUri("wide");
        var beyond = await Curl.RunAsync("--interface", address.ToString(), "-H", "Authorization: Bearer " + token, $"http://{address}:{wide.Port}/allowed/x");
        Assert.Equal(401, beyond.Status);
        Assert.Contains("\"reason\":\"bearer_token_insecure_transport\"", beyond.Body, StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);
        // From this host the same listener takes it.
        using var http = new HttpClient();
        Assert.Equal(200, (await SendAsync(http, new Uri($"http://127.0.0.1:{wide.Port}/"), "Authorization", token)).Status);
        AssertNoTokenLeaked(proxy);
    }

    [Fact]
    public async Task An_unknown_kid_reads_the_jwks_again_at_most_once_per_refresh_interval()
    {
        using var key1 = RSA.Create(2048);
        using var key2 = RSA.Create(2048);
        using var key3 = RSA.Create(2048);
        var published = Jwks((key1, "k1"));
        var reads = 0;
        var (jwksApp, jwksBase) = await LoopbackApp.StartAsync(async context =>
        {
            Interlocked.Increment(ref reads);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Volatile.Read(ref published));
        });
        await using var _ = jwksApp;
        var jwks = new Uri(jwksBase, "jwks");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, upstream => Config(upstream, jwks), time: time);
        using var http = new HttpClient();
        var local = proxy.Host.GetListenerUri("local");
        var issuer = jwksBase.GetLeftPart(UriPartial.Authority);
        string Svid(RSA key, string kid)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var token = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = issuer,
                Audience = "secretless-proxy",
                Subject = new System.Security.Claims.ClaimsIdentity([new System.Security.Claims.Claim("sub", Rotator)]),
                IssuedAt = now,
                NotBefore = now,
                Expires = now.AddMinutes(5),
                SigningCredentials = new SigningCredentials(new RsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
            });
            _tokens.Add(token);
            return token;
        }

        Assert.Equal(200, (await SendAsync(http, local, "Authorization", Svid(key1, "k1"))).Status);
        Assert.Equal(1, Volatile.Read(ref reads));

        // The issuer rotates to k2. The keys were read just now: a token naming k2 does not make the proxy read them
        // again (a forged kid cannot make it hammer the issuer).
        Volatile.Write(ref published, Jwks((key2, "k2")));
        AssertRefused(await SendAsync(http, local, "Authorization", Svid(key2, "k2")), "bearer_token_key_unknown");
        Assert.Equal(1, Volatile.Read(ref reads));

        // Past the refresh interval, the unknown kid reads them once, and k2 verifies.
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(200, (await SendAsync(http, local, "Authorization", Svid(key2, "k2"))).Status);
        Assert.Equal(2, Volatile.Read(ref reads));
        Assert.Equal(200, (await SendAsync(http, local, "Authorization", Svid(key2, "k2"))).Status);
        // k3 was never published: refused, without another read within the interval.
        AssertRefused(await SendAsync(http, local, "Authorization", Svid(key3, "k3")), "bearer_token_key_unknown");
        AssertRefused(await SendAsync(http, local, "Authorization", Svid(key3, "k3")), "bearer_token_key_unknown");
        Assert.Equal(2, Volatile.Read(ref reads));
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("identity").GetString() == Rotator);
        Assert.Equal("local", record.GetProperty("listener").GetString());
        AssertNoTokenLeaked(proxy);
    }

    private static string Jwks(params (RSA Key, string Kid)[] keys) => JsonSerializer.Serialize(new
    {
        keys = keys.Select(k =>
        {
            var p = k.Key.ExportParameters(false);
            return new { kty = "RSA", use = "sig", alg = "RS256", kid = k.Kid, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) };
        }),
    });

    /// <summary>Canary: no token (nor its signature) in the proxy's logs or decision records.</summary>
    private void AssertNoTokenLeaked(ProxyUnderTest proxy)
    {
        Assert.NotEmpty(_tokens);
        var logs = proxy.Logs.Text;
        var decisions = proxy.Decisions.Text;
        foreach (var token in _tokens)
        {
            var signature = token[(token.LastIndexOf('.') + 1)..];
            foreach (var part in new[] { token, signature }.Where(p => p.Length > 16))
            {
                Assert.DoesNotContain(part, logs, StringComparison.Ordinal);
                Assert.DoesNotContain(part, decisions, StringComparison.Ordinal);
            }
        }
    }

    private static IPAddress NonLoopbackAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
        ?? throw new InvalidOperationException("this host has no non-loopback IPv4 address to connect from");
}
