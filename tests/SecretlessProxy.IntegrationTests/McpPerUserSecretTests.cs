using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Per-user static secrets for tools that only take API keys (issue 18): a <c>file</c> credential whose path holds
/// <c>{user}</c>, on an MCP route whose agent sends its user's token. Through the C# MCP SDK: two users of one agent get
/// their own keys; a user without one is refused with a JSON-RPC error naming the reason (and served once the file
/// appears); subjects that could reach outside their file are refused; no key appears in logs or records.
/// </summary>
public sealed class McpPerUserSecretTests : IAsyncLifetime
{
    private const string Agent = "spiffe://example.org/ns/agents/sa/coder";
    private const string AliceKey = "canary-user-alice-5b2e71c9";
    private const string BobKey = "canary-user-bob-0d94aa3f";
    private const string CarolKey = "canary-user-carol-e61f0b28";
    private const string Issuer = "https://idp.test";

    private readonly TestPki _pki = new();
    private readonly RSA _userKey = RSA.Create(2048);
    private WebApplication _jwksApp = null!;
    private Uri _jwks = null!;

    public async Task InitializeAsync()
    {
        var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(_userKey.ExportParameters(false)) { KeyId = "k1" });
        var jwks = JsonSerializer.Serialize(new { keys = new[] { new { kty = "RSA", kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
        (_jwksApp, _jwks) = await LoopbackApp.StartAsync(async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(jwks);
        });
    }

    public async Task DisposeAsync()
    {
        await _jwksApp.DisposeAsync();
        _userKey.Dispose();
        _pki.Dispose();
    }

    private string UserToken(string subject)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = "mcp-gateway",
            Claims = new Dictionary<string, object> { ["sub"] = subject },
            IssuedAt = now.AddMinutes(-1),
            NotBefore = now.AddMinutes(-1),
            Expires = now.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(_userKey) { KeyId = "k1" }, SecurityAlgorithms.RsaSha256),
        });
    }

    internal static string Config(Uri server, Uri jwks, string extra = "") => $$"""
        listeners:
          - name: agent
            url: http://127.0.0.1:0
            identity: coder
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          coder: { spiffeId: {{Agent}} }
        credentials:
          api-key:
            provider: file
            path: users/{user}/api-key
            pollInterval: "00:00:00.050"
        policies:
          - name: coder-for-anyone
            allow: [coder]
            routes: [keys]
            mcp: { tools: [echo_headers, search_repos] }
        ReverseProxy:
          Routes:
            keys:
              ClusterId: mcp
              Match: { Path: "/keys/mcp" }
              Metadata: { Protocol: mcp, Credential: api-key, McpUserHeader: X-Mcp-User, McpUserIssuer: "{{Issuer}}", McpUserJwksUrl: "{{jwks}}", McpUserAudience: mcp-gateway }
              Transforms: [ { PathSet: /mcp } ]
          Clusters:
            mcp:
              Destinations: { d1: { Address: "{{server}}" } }
        {{extra}}
        """;

    private void WriteKey(string user, string key)
    {
        var folder = Path.Combine(_pki.Directory, "users", user);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "api-key"), key + "\n");
    }

    private static async Task<McpClient> ConnectAsync(Uri endpoint, HttpClient http, string token) => await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
    {
        Endpoint = endpoint,
        TransportMode = HttpTransportMode.StreamableHttp,
        AdditionalHeaders = new Dictionary<string, string> { ["X-Mcp-User"] = "Bearer " + token },
    }, http, ownsHttpClient: false));

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    [Fact]
    public async Task Each_user_gets_their_own_key_a_user_without_one_is_refused_and_unsafe_subjects_never_name_a_file()
    {
        WriteKey("alice@acme.example", AliceKey);
        WriteKey("bob", BobKey);
        // A key outside the users folder that a traversing subject would reach.
        File.WriteAllText(Path.Combine(_pki.Directory, "api-key"), AliceKey);
        await using var server = await McpTestServer.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(server.Address, _jwks));
        var endpoint = new Uri(proxy.Host.GetListenerUri("agent"), "/keys/mcp");
        using var http = new HttpClient();

        // Alice and Bob, through the same agent, each get their own key; the echo comes back masked.
        await using (var alice = await ConnectAsync(endpoint, http, UserToken("alice@acme.example")))
        {
            var echo = Text(await alice.CallToolAsync("echo_headers"));
            Assert.Contains("Authorization: Bearer " + new string('*', AliceKey.Length), echo, StringComparison.Ordinal);
            Assert.DoesNotContain(AliceKey, echo, StringComparison.Ordinal);
        }
        Assert.Equal("Bearer " + AliceKey, server.Requests.Authorizations.Last());
        await using (var bob = await ConnectAsync(endpoint, http, UserToken("bob")))
        {
            var echo = Text(await bob.CallToolAsync("echo_headers"));
            Assert.Contains("Authorization: Bearer " + new string('*', BobKey.Length), echo, StringComparison.Ordinal);
        }
        Assert.Equal("Bearer " + BobKey, server.Requests.Authorizations.Last());

        // Carol has no key: her agent's SDK gets a JSON-RPC error with the reason, and nothing reaches the server.
        var before = server.Requests.All.Count;
        var refused = await Assert.ThrowsAnyAsync<McpException>(() => ConnectAsync(endpoint, http, UserToken("carol")));
        Assert.Contains("there is no secret for user 'carol'", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before, server.Requests.All.Count);
        var carolPost = await PostAsync(http, endpoint, UserToken("carol"), """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo_headers","arguments":{}}}""");
        Assert.Equal(200, carolPost.Status);
        Assert.Equal(7, carolPost.Body.GetProperty("id").GetInt32());
        Assert.Equal(-32001, carolPost.Body.GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal("user_secret_missing", carolPost.Body.GetProperty("error").GetProperty("data").GetProperty("reason").GetString());
        // Her key is added: the next call is served with it (the missing file was watched, not remembered as missing).
        WriteKey("carol", CarolKey);
        await Eventually.Until(async () =>
        {
            try
            {
                await using var carol = await ConnectAsync(endpoint, http, UserToken("carol"));
                return Text(await carol.CallToolAsync("echo_headers")).Contains("Authorization: Bearer " + new string('*', CarolKey.Length), StringComparison.Ordinal);
            }
            catch (McpException)
            {
                return false;
            }
        }, "carol's key is served once her file exists");
        Assert.Equal("Bearer " + CarolKey, server.Requests.Authorizations.Last());

        // Subjects that could name another file are refused, never resolved.
        foreach (var subject in new[] { "../alice@acme.example", "..", ".", "bob/../alice@acme.example", "users/bob", "bob\\x", ".hidden", "bob%2F..", new string('a', 129) })
        {
            var post = await PostAsync(http, endpoint, UserToken(subject), """{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo_headers","arguments":{}}}""");
            Assert.True(post.Status == 200 && post.Body.TryGetProperty("error", out _), $"{subject}: {post.Status} {post.Body}");
            var error = post.Body.GetProperty("error");
            Assert.Equal("user_secret_missing", error.GetProperty("data").GetProperty("reason").GetString());
            Assert.Contains("cannot name a secret file", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
        Assert.Equal("Bearer " + CarolKey, server.Requests.Authorizations.Last());

        // The decision records name the reason and the user; no key appears in logs or records.
        await Eventually.Until(() => proxy.Decisions.Text.Contains("user_secret_missing", StringComparison.Ordinal), "the refusal is audited");
        Assert.Contains("\"user\":\"carol\"", proxy.Decisions.Text, StringComparison.Ordinal);
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text })
        {
            foreach (var key in new[] { AliceKey, BobKey, CarolKey })
            {
                Assert.DoesNotContain(key, text, StringComparison.Ordinal);
            }
        }
    }

    private sealed record Posted(int Status, JsonElement Body);

    private static async Task<Posted> PostAsync(HttpClient http, Uri endpoint, string token, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        request.Headers.Add("X-Mcp-User", "Bearer " + token);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType == "text/event-stream")
        {
            text = text.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal)).Select(l => l[5..].Trim()).LastOrDefault() ?? "";
        }
        return new Posted((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }
}
