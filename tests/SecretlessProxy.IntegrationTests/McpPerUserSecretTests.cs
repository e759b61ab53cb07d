using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
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
          - name: admin-socket
            role: admin
            url: unix:admin-{{Guid.NewGuid().ToString("N")[..8]}}.sock
            allow: [{ uid: 0 }]
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

    [Fact]
    public async Task The_inventory_lists_per_route_the_agents_their_tools_counts_and_users_across_replicas()
    {
        WriteKey("alice", AliceKey);
        WriteKey("bob", BobKey);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "cache.key"), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        await using var redis = await RedisServer.StartAsync(_pki.Directory);
        var shared = $"inventory:\n  usageFlushInterval: 0.2s\ncache:\n  redis:\n    configuration: \"127.0.0.1:{redis.Port}\"\n    encryptionKey: cache.key\n    operationTimeout: \"00:00:01\"\n";
        await using var server = await McpTestServer.StartAsync();
        await using var a = await ProxyUnderTest.StartAsync(_pki, _ => Config(server.Address, _jwks, shared), configName: "replica-a.yaml");
        await using var b = await ProxyUnderTest.StartAsync(_pki, _ => Config(server.Address, _jwks, shared), configName: "replica-b.yaml");
        await Eventually.Until(() => a.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable
            && b.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "both replicas connect to Redis");
        using var http = new HttpClient();

        // On replica A: alice's agent calls echo_headers twice and search_repos once, and is refused delete_repo.
        await using (var alice = await ConnectAsync(new Uri(a.Host.GetListenerUri("agent"), "/keys/mcp"), http, UserToken("alice")))
        {
            await alice.CallToolAsync("echo_headers");
            await alice.CallToolAsync("echo_headers");
            await alice.CallToolAsync("search_repos", new Dictionary<string, object?> { ["repo"] = "acme/widgets" });
            await Assert.ThrowsAsync<McpProtocolException>(() => alice.CallToolAsync("delete_repo", new Dictionary<string, object?> { ["repo"] = "acme/widgets" }).AsTask());
        }
        // carol has no key: her call is refused (and counted so).
        var carol = await PostAsync(http, new Uri(a.Host.GetListenerUri("agent"), "/keys/mcp"), UserToken("carol"),
            """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo_headers","arguments":{}}}""");
        Assert.Equal("user_secret_missing", carol.Body.GetProperty("error").GetProperty("data").GetProperty("reason").GetString());
        // On replica B: bob's agent calls echo_headers once.
        await using (var bob = await ConnectAsync(new Uri(b.Host.GetListenerUri("agent"), "/keys/mcp"), http, UserToken("bob")))
        {
            await bob.CallToolAsync("echo_headers");
        }

        // Replica B's admin API answers for both replicas (usage through Redis).
        using var admin = new AdminClient(b);
        JsonElement route = default;
        await Eventually.Until(async () =>
        {
            var (status, body) = await admin.GetAsync("/inventory");
            Assert.Equal(200, status);
            route = body.GetProperty("mcpRoutes").EnumerateArray().Single(r => r.GetProperty("route").GetString() == "keys");
            return route.GetProperty("agents").GetArrayLength() == 1
                && Tool(route.GetProperty("agents")[0], "echo_headers") is { } echo && echo.GetProperty("calls").GetInt64() == 3 && echo.GetProperty("refused").GetInt64() == 1;
        }, "replica B's inventory counts both replicas' calls", lastSeen: () => route.ToString());
        var agent = route.GetProperty("agents")[0];
        Assert.Equal(Agent, agent.GetProperty("identity").GetString());
        Assert.Equal("coder", agent.GetProperty("name").GetString());
        Assert.Equal(4, agent.GetProperty("calls").GetInt64());
        Assert.Equal(2, agent.GetProperty("refused").GetInt64());
        Assert.Equal(["alice", "bob", "carol"], agent.GetProperty("users").EnumerateArray().Select(u => u.GetString()));
        Assert.True(agent.GetProperty("lastUse").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(-5));
        Assert.Equal(["delete_repo", "echo_headers", "search_repos"], agent.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("tool").GetString()));
        var echoUsers = Tool(agent, "echo_headers")!.Value.GetProperty("users").EnumerateArray().Select(u => u.GetProperty("user").GetString());
        Assert.Equal(["alice", "bob", "carol"], echoUsers);
        Assert.Equal((1, 0), (Tool(agent, "search_repos")!.Value.GetProperty("calls").GetInt64(), Tool(agent, "search_repos")!.Value.GetProperty("refused").GetInt64()));
        Assert.Equal((0, 1), (Tool(agent, "delete_repo")!.Value.GetProperty("calls").GetInt64(), Tool(agent, "delete_repo")!.Value.GetProperty("refused").GetInt64()));
        Assert.Equal(["alice"], Tool(agent, "search_repos")!.Value.GetProperty("users").EnumerateArray().Select(u => u.GetProperty("user").GetString()));

        // The CLI reads the same usage from Redis, without a running proxy's memory.
        var cli = await CliRun.RunAsync("inventory", "--config", Path.Combine(_pki.Directory, "replica-b.yaml"), "--mcp");
        Assert.True(cli.Exit == 0, cli.Err);
        var line = cli.Out.Split('\n').Single(l => l.StartsWith("keys ", StringComparison.Ordinal) && l.Contains(" echo_headers ", StringComparison.Ordinal));
        Assert.Matches(@"\s3\s+1\s+\S+\s+alice bob carol\s*$", line);

        var (_, full) = await admin.GetAsync("/inventory");
        foreach (var text in new[] { full.GetRawText(), cli.Out, await redis.CliAsync("HGETALL", "secretless:usage") })
        {
            Assert.DoesNotContain(AliceKey, text, StringComparison.Ordinal);
            Assert.DoesNotContain(BobKey, text, StringComparison.Ordinal);
            Assert.DoesNotContain(UserToken("alice")[..40], text, StringComparison.Ordinal);
        }
    }

    private static JsonElement? Tool(JsonElement agent, string name) =>
        agent.GetProperty("tools").EnumerateArray().Where(t => t.GetProperty("tool").GetString() == name).Select(t => (JsonElement?)t).FirstOrDefault();

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
