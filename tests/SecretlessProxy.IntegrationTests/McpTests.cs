using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
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
/// MCP routes end to end: an MCP server built with the official C# SDK behind the proxy, clients from the C# SDK and
/// the TypeScript SDK (tests/SecretlessProxy.IntegrationTests/mcp) calling through a loopback listener bound to the
/// agent's identity. tools/list is filtered, calls are allowed or refused (by name, by an argument rule) as JSON-RPC
/// errors the SDKs surface, the echoed credential is masked, event streams pass through, malformed bodies get clean
/// JSON-RPC errors and never reach the server.
/// </summary>
public sealed class McpTests(McpTests.Fixture shared) : IClassFixture<McpTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        private readonly TestPki _pki = new();
        private readonly RSA _userKey = RSA.Create(2048);
        private WebApplication _jwksApp = null!;

        public McpTestServer Server { get; private set; } = null!;

        /// <summary>The user tokens' issuer's JWKS (a loopback app serving one RSA key).</summary>
        public Uri Jwks { get; private set; } = null!;

        /// <summary>A token of the user the agent acts for, signed with the issuer's key.</summary>
        public string UserToken(string subject, string issuer = UserIssuer, string audience = "mcp-gateway", TimeSpan? lifetime = null)
        {
            var now = DateTime.UtcNow;
            return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = issuer,
                Audience = audience,
                Claims = new Dictionary<string, object> { ["sub"] = subject },
                IssuedAt = now.AddMinutes(-10),
                NotBefore = now.AddMinutes(-10),
                Expires = now + (lifetime ?? TimeSpan.FromMinutes(5)),
                SigningCredentials = new SigningCredentials(new RsaSecurityKey(_userKey) { KeyId = "user-key-1" }, SecurityAlgorithms.RsaSha256),
            });
        }

        public ProxyUnderTest Proxy { get; private set; } = null!;

        public Uri Endpoint => new(Proxy.Host.GetListenerUri("agent"), "/tools/mcp");

        public async Task InitializeAsync()
        {
            var jwk = JsonWebKeyConverter.ConvertFromRSASecurityKey(new RsaSecurityKey(_userKey.ExportParameters(false)) { KeyId = "user-key-1" });
            var jwks = JsonSerializer.Serialize(new { keys = new[] { new { kty = "RSA", kid = jwk.Kid, use = "sig", alg = "RS256", n = jwk.N, e = jwk.E } } });
            (_jwksApp, Jwks) = await LoopbackApp.StartAsync(async context =>
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync(jwks);
            });
            Server = await McpTestServer.StartAsync();
            Proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(Server.Address, Jwks));
        }

        public async Task DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Server.DisposeAsync();
            await _jwksApp.DisposeAsync();
            _userKey.Dispose();
            _pki.Dispose();
        }
    }

    private const string UserIssuer = "https://idp.test";

    private static string Config(Uri server, Uri jwks) => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
          - name: agent
            url: http://127.0.0.1:0
            identity: coder
          - name: agent-h2
            url: http://127.0.0.1:0
            identity: coder
            protocols: [http2]
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          coder: { spiffeId: spiffe://example.org/ns/agents/sa/coder }
        credentials:
          github:
            provider: file
            path: github-token.txt
            inject: { type: header, name: Authorization, template: "Bearer {token}" }
        policies:
          - name: coder-tools
            allow: [coder]
            routes: [tools, tools-json]
            mcp:
              tools: [search_repos, echo_headers, count, get_secret]
              arguments:
                "/repo": { pattern: "acme/*", optional: true }
                "/limit": { max: 100, optional: true }
          - name: no-secrets
            deny: [coder]
            routes: [tools, tools-json]
            mcp: { tools: [get_secret] }
          - name: coder-for-acme-users
            allow: [coder]
            routes: [tools-user]
            mcp: { users: [alice, "*@acme.example"], tools: [echo_headers] }
        ReverseProxy:
          Routes:
            tools:
              ClusterId: mcp
              Match: { Path: "/tools/mcp" }
              Metadata: { Protocol: mcp, Credential: github, McpMaxMessageBytes: "65536", McpMaxDepth: "16" }
              Transforms: [ { PathSet: /mcp } ]
            tools-user:
              ClusterId: mcp
              Match: { Path: "/user/mcp" }
              Metadata: { Protocol: mcp, Credential: github, McpUserHeader: X-Mcp-User, McpUserIssuer: "{{UserIssuer}}", McpUserJwksUrl: "{{jwks}}", McpUserAudience: mcp-gateway }
              Transforms: [ { PathSet: /mcp } ]
            tools-json:
              ClusterId: mcp
              Match: { Path: "/tools/json" }
              Metadata: { Protocol: mcp, Credential: github }
              Transforms: [ { PathSet: /json-mcp } ]
          Clusters:
            mcp:
              Destinations: { d1: { Address: "{{server}}" } }
        """;

    private static async Task<McpClient> ConnectAsync(Uri endpoint, HttpClient http) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions { Endpoint = endpoint, TransportMode = HttpTransportMode.StreamableHttp }, http, ownsHttpClient: false));

    private static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    private List<JsonElement> Records() => [.. shared.Proxy.Decisions.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement)];

    [Fact]
    public async Task Csharp_sdk_client_sees_filtered_tools_allowed_and_refused_calls_and_a_masked_echo()
    {
        using var http = new HttpClient();
        await using var client = await ConnectAsync(shared.Endpoint, http);

        var tools = await client.ListToolsAsync();
        Assert.Equal(["count", "echo_headers", "search_repos"], tools.Select(t => t.Name).Order(StringComparer.Ordinal));

        var found = await client.CallToolAsync("search_repos", new Dictionary<string, object?> { ["repo"] = "acme/widgets", ["limit"] = 5 });
        Assert.Equal("found 5 results in acme/widgets", Text(found));

        var byName = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("delete_repo", new Dictionary<string, object?> { ["repo"] = "acme/widgets" }).AsTask());
        Assert.Equal(-32001, (int)byName.ErrorCode);
        Assert.Contains("delete_repo", byName.Message, StringComparison.Ordinal);
        Assert.Contains("coder-tools", byName.Message, StringComparison.Ordinal);

        var byArgument = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("search_repos", new Dictionary<string, object?> { ["repo"] = "evil/widgets" }).AsTask());
        Assert.Contains("coder-tools", byArgument.Message, StringComparison.Ordinal);
        Assert.Contains("/repo", byArgument.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("search_repos", new Dictionary<string, object?> { ["repo"] = "acme/a", ["limit"] = 1000 }).AsTask());

        var denied = await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("get_secret").AsTask());
        Assert.Contains("no-secrets", denied.Message, StringComparison.Ordinal);

        var echo = Text(await client.CallToolAsync("echo_headers"));
        Assert.Contains("Authorization: Bearer ", echo, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, echo, StringComparison.Ordinal);
        Assert.Contains("Bearer " + new string('*', ProxyUnderTest.Canary.Length), echo, StringComparison.Ordinal);

        // The session id passed both ways: the server saw every request after initialize in one session.
        var sessions = shared.Server.Requests.All.Where(r => r.Method == "POST" && !r.Body.Contains("\"initialize\"", StringComparison.Ordinal)).Select(r => r.SessionId).Distinct().ToList();
        Assert.NotEmpty(sessions);
        Assert.DoesNotContain(null, sessions);
        // Refused calls never reached the server.
        Assert.DoesNotContain(shared.Server.Requests.All, r => r.Body.Contains("delete_repo", StringComparison.Ordinal) || r.Body.Contains("evil/widgets", StringComparison.Ordinal));

        // A record is written when the proxy has finished its exchange, which can be after the client has its answer:
        // wait for every record this test reads, not only the last call's.
        static bool IsAllowedSearch(JsonElement r) => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("tool", out var t) && t.GetString() == "search_repos"
            && m.GetProperty("argumentBytes").TryGetProperty("limit", out var l) && l.GetInt32() == 1 && r.GetProperty("outcome").GetString() == "allow";
        static bool IsTool(JsonElement r, string tool) => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("tool", out var t) && t.GetString() == tool;
        await Eventually.Until(() =>
        {
            var seen = Records();
            return seen.Any(IsAllowedSearch) && seen.Any(r => IsTool(r, "delete_repo")) && seen.Any(r => IsTool(r, "echo_headers"))
                && seen.Any(r => r.TryGetProperty("reason", out var reason) && reason.GetString() == "mcp_argument_refused");
        }, "the calls are audited");
        var records = Records();
        var allowed = records.Single(IsAllowedSearch);
        Assert.Equal("coder-tools", allowed.GetProperty("rule").GetString());
        Assert.Equal("spiffe://example.org/ns/agents/sa/coder", allowed.GetProperty("identity").GetString());
        Assert.Equal(14, allowed.GetProperty("mcp").GetProperty("argumentBytes").GetProperty("repo").GetInt32());
        Assert.False(allowed.GetProperty("mcp").TryGetProperty("arguments", out _));
        Assert.Equal(200, allowed.GetProperty("upstreamStatus").GetInt32());
        Assert.True(allowed.TryGetProperty("upstreamLatencyMs", out _));
        var refused = records.First(r => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("tool", out var t) && t.GetString() == "delete_repo");
        Assert.Equal("deny", refused.GetProperty("outcome").GetString());
        Assert.Equal("no_rule_matched", refused.GetProperty("reason").GetString());
        Assert.Equal(-32001, refused.GetProperty("mcp").GetProperty("errorCode").GetInt32());
        var argument = records.First(r => r.TryGetProperty("reason", out var reason) && reason.GetString() == "mcp_argument_refused");
        Assert.Equal("coder-tools", argument.GetProperty("rule").GetString());
        Assert.Contains(records, r => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("tool", out var t) && t.GetString() == "echo_headers"
            && r.TryGetProperty("redactions", out var redactions) && redactions.GetProperty("body").GetInt32() >= 1);
        var lists = records.Where(r => r.TryGetProperty("mcp", out var m) && m.GetProperty("method").GetString() == "tools/list").ToList();
        Assert.Contains(lists, r => r.GetProperty("mcp").TryGetProperty("hidden", out var hidden) && hidden.GetInt32() == 1);

        Assert.DoesNotContain(ProxyUnderTest.Canary, shared.Proxy.Logs.Text + shared.Proxy.Decisions.Text, StringComparison.Ordinal);
        using var metrics = new HttpClient();
        var scrape = await metrics.GetStringAsync(new Uri(shared.Proxy.AdminUri, "/metrics"));
        Assert.Contains("secretless_mcp_requests_total{route=\"tools\",method=\"tools/call\",outcome=\"deny\"}", scrape, StringComparison.Ordinal);
        Assert.Contains("secretless_response_redactions_total{route=\"tools\",where=\"body\"}", scrape, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, scrape, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tool_call_answered_as_an_event_stream_passes_through()
    {
        using var http = new HttpClient();
        await using var client = await ConnectAsync(shared.Endpoint, http);
        // The progress notifications themselves are counted by the TypeScript client test (its 'progress' field): with
        // this SDK's client, in a class run, they did not reach the progress handler (alone they did); the answer does.
        var result = await client.CallToolAsync("count", new Dictionary<string, object?> { ["n"] = 3 }, new SynchronousProgress([]));
        Assert.Equal("counted to 3", Text(result));
    }

    [Fact]
    public async Task Http2_clients_get_the_same_decisions_filtering_and_masking()
    {
        using var http = new HttpClient(new Http2Only());
        await using var client = await ConnectAsync(new Uri(shared.Proxy.Host.GetListenerUri("agent-h2"), "/tools/mcp"), http);
        Assert.Equal(["count", "echo_headers", "search_repos"], (await client.ListToolsAsync()).Select(t => t.Name).Order(StringComparer.Ordinal));
        await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("delete_repo", new Dictionary<string, object?> { ["repo"] = "acme/widgets" }).AsTask());
        var echo = Text(await client.CallToolAsync("echo_headers"));
        Assert.Contains("Authorization: Bearer ***", echo, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, echo, StringComparison.Ordinal);
    }

    /// <summary>Cleartext HTTP/2 with prior knowledge for every request the SDK makes (it builds its own request messages).</summary>
    private sealed class Http2Only() : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            request.Version = HttpVersion.Version20;
            request.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
            return base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class SynchronousProgress(List<ProgressNotificationValue> steps) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value)
        {
            lock (steps)
            {
                steps.Add(value);
            }
        }
    }

    [Fact]
    public async Task Typescript_sdk_client_sees_the_same()
    {
        var dir = McpClientScript.Dir;
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "@modelcontextprotocol", "sdk")),
            $"@modelcontextprotocol/sdk is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        var (exit, output, error) = await ChildProcess.RunAsync("node", [Path.Combine(dir, "client.mjs"), shared.Endpoint.ToString()]);
        Assert.True(exit == 0, $"node client.mjs failed ({exit}): {error}\n{output}");
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Equal(["count", "echo_headers", "search_repos"], report.GetProperty("tools").EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal));
        Assert.Equal("found 42 results in acme/gadgets", report.GetProperty("allowed").GetString());
        Assert.Equal(-32001, report.GetProperty("byName").GetProperty("code").GetInt32());
        Assert.Contains("coder-tools", report.GetProperty("byName").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(-32001, report.GetProperty("byArgument").GetProperty("code").GetInt32());
        Assert.Contains("/limit", report.GetProperty("byArgument").GetProperty("message").GetString(), StringComparison.Ordinal);
        var echo = report.GetProperty("echo").GetString()!;
        Assert.Contains("authorization: Bearer ***", echo, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(ProxyUnderTest.Canary, output + error, StringComparison.Ordinal);
        Assert.Equal(3, report.GetProperty("progress").GetInt32());
    }

    private static class McpClientScript
    {
        public static string Dir
        {
            get
            {
                var root = new DirectoryInfo(AppContext.BaseDirectory);
                while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
                {
                    root = root.Parent;
                }
                return Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", "mcp");
            }
        }
    }

    private async Task<(HttpStatusCode Status, string? ContentType, JsonElement Body)> PostAsync(string body, string contentType = "application/json", string path = "/tools/mcp", string? userToken = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(shared.Proxy.Host.GetListenerUri("agent"), path))
        {
            Content = new StringContent(body, Encoding.UTF8),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (userToken is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Mcp-User", userToken);
        }
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.Content.Headers.ContentLength is null || response.Content.Headers.ContentLength == Encoding.UTF8.GetByteCount(text), "Content-Length is the body's length");
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, JsonDocument.Parse(text).RootElement);
    }

    public static TheoryData<string, string, int, int> Corpus() => new()
    {
        { "invalid JSON", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", 400, -32700 },
        { "deep nesting", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_repos\",\"arguments\":{\"x\":" + new string('[', 3000) + new string(']', 3000) + "}}}", 400, -32700 },
        { "huge string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_repos\",\"arguments\":{\"repo\":\"acme/" + new string('a', 70_000) + "\"}}}", 413, -32600 },
        { "duplicate ids", "[{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}]", 400, -32600 },
        { "duplicate keys", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_repos\",\"name\":\"delete_repo\"}}", 400, -32700 },
        { "case variant key", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_repos\",\"Name\":\"delete_repo\"}}", 400, -32602 },
        { "non-object params", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":[\"delete_repo\"]}", 400, -32600 },
        { "non-object arguments", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_repos\",\"arguments\":\"acme/x\"}}", 400, -32602 },
        { "not JSON-RPC", "{\"id\":1,\"method\":\"tools/list\"}", 400, -32600 },
        { "a number", "42", 400, -32600 },
        { "empty body", "", 400, -32700 },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Malformed_bodies_get_clean_json_rpc_errors_and_are_not_forwarded(string what, string body, int status, int code)
    {
        var before = shared.Server.Requests.All.Count;
        var (got, contentType, answer) = await PostAsync(body);
        Assert.True((int)got == status, $"{what}: {(int)got} {answer}");
        Assert.Equal("application/json", contentType);
        Assert.Equal("2.0", answer.GetProperty("jsonrpc").GetString());
        Assert.Equal(JsonValueKind.Null, answer.GetProperty("id").ValueKind);
        Assert.Equal(code, answer.GetProperty("error").GetProperty("code").GetInt32());
        Assert.StartsWith("mcp_", answer.GetProperty("error").GetProperty("data").GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, shared.Server.Requests.All.Count);
    }

    [Fact]
    public async Task Wrong_content_type_is_refused_with_415()
    {
        var (status, _, answer) = await PostAsync("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, status);
        Assert.Equal("mcp_not_json", answer.GetProperty("error").GetProperty("data").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task A_batch_with_one_refused_call_is_refused_whole_and_unknown_methods_are_denied()
    {
        var before = shared.Server.Requests.All.Count;
        var (status, _, answer) = await PostAsync("""
            [{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"search_repos","arguments":{"repo":"acme/x"}}},
             {"jsonrpc":"2.0","method":"notifications/initialized"},
             {"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"delete_repo","arguments":{"repo":"acme/x"}}}]
            """);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(JsonValueKind.Array, answer.ValueKind);
        Assert.Equal(["a", "b"], answer.EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.All(answer.EnumerateArray(), e => Assert.Equal(-32001, e.GetProperty("error").GetProperty("code").GetInt32()));
        Assert.Contains("same batch", answer[0].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        var (_, _, unknown) = await PostAsync("""{"jsonrpc":"2.0","id":9,"method":"sampling/createMessage","params":{}}""");
        Assert.Equal(9, unknown.GetProperty("id").GetInt32());
        Assert.Equal("no_rule_matched", unknown.GetProperty("error").GetProperty("data").GetProperty("reason").GetString());

        var (notificationStatus, _, notification) = await PostAsync("""{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}""");
        Assert.Equal(HttpStatusCode.Forbidden, notificationStatus);
        Assert.Equal(JsonValueKind.Null, notification.GetProperty("id").ValueKind);
        Assert.Equal(before, shared.Server.Requests.All.Count);
    }

    [Fact]
    public async Task A_json_list_answer_is_filtered_with_its_true_length()
    {
        var (status, contentType, answer) = await PostAsync("""{"jsonrpc":"2.0","id":"list-1","method":"tools/list"}""", path: "/tools/json");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("application/json", contentType);
        var result = answer.GetProperty("result");
        Assert.Equal(["search_repos", "echo_headers"], result.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Equal("page-2", result.GetProperty("nextCursor").GetString());
        Assert.Equal("object", result.GetProperty("tools")[0].GetProperty("inputSchema").GetProperty("type").GetString());
    }

    [Fact]
    public async Task The_user_an_agent_acts_for_is_validated_decided_audited_and_never_forwarded()
    {
        var endpoint = new Uri(shared.Proxy.Host.GetListenerUri("agent"), "/user/mcp");
        var alice = shared.UserToken("alice");
        using var http = new HttpClient();
        async Task<McpClient> ConnectAsUserAsync(string token) => await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["X-Mcp-User"] = "Bearer " + token },
        }, http, ownsHttpClient: false));
        await using (var client = await ConnectAsUserAsync(alice))
        {
            Assert.Equal(["echo_headers"], (await client.ListToolsAsync()).Select(t => t.Name));
            var echo = Text(await client.CallToolAsync("echo_headers"));
            Assert.DoesNotContain("X-Mcp-User", echo, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(alice, echo, StringComparison.Ordinal);
            Assert.DoesNotContain(ProxyUnderTest.Canary, echo, StringComparison.Ordinal);
            await Assert.ThrowsAsync<McpProtocolException>(() => client.CallToolAsync("search_repos", new Dictionary<string, object?> { ["repo"] = "acme/x" }).AsTask());
        }
        await using (var carol = await ConnectAsUserAsync(shared.UserToken("carol@acme.example")))
        {
            Assert.Contains("Bearer ***", Text(await carol.CallToolAsync("echo_headers")), StringComparison.Ordinal);
        }
        // bob is no user the rule names: not even initialize is covered.
        var bob = await PostAsync("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}""", path: "/user/mcp", userToken: shared.UserToken("bob"));
        Assert.Equal(HttpStatusCode.OK, bob.Status);
        Assert.Equal("no_rule_matched", bob.Body.GetProperty("error").GetProperty("data").GetProperty("reason").GetString());
        Assert.Contains("mcp user", bob.Body.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        foreach (var (what, token) in new[]
        {
            ("expired", shared.UserToken("alice", lifetime: TimeSpan.FromMinutes(-5))),
            ("another issuer", shared.UserToken("alice", issuer: "https://evil.test")),
            ("another audience", shared.UserToken("alice", audience: "someone-else")),
            ("not a JWT", "not-a-jwt"),
            ("tampered", alice[..^4] + (alice[^4] == 'A' ? "B" : "A") + alice[^3..]),
        })
        {
            var refused = await PostAsync("""{"jsonrpc":"2.0","id":1,"method":"ping"}""", path: "/user/mcp", userToken: "Bearer " + token);
            Assert.True(refused.Status == HttpStatusCode.Forbidden, $"{what}: {(int)refused.Status} {refused.Body}");
            Assert.Equal("mcp_user_token_invalid", refused.Body.GetProperty("error").GetProperty("data").GetProperty("reason").GetString());
        }
        var missing = await PostAsync("""{"jsonrpc":"2.0","id":1,"method":"ping"}""", path: "/user/mcp");
        Assert.Equal(HttpStatusCode.Forbidden, missing.Status);

        Assert.DoesNotContain(shared.Server.Requests.All, r => r.Body.Contains(alice, StringComparison.Ordinal));
        await Eventually.Until(() => Records().Any(r => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("user", out var u) && u.GetString() == "alice"), "alice is in the decision records");
        await Eventually.Until(() => Records().Any(r => r.TryGetProperty("mcp", out var m) && m.TryGetProperty("user", out var u) && u.GetString() == "carol@acme.example"
            && m.TryGetProperty("tool", out var t) && t.GetString() == "echo_headers" && r.GetProperty("outcome").GetString() == "allow"), "carol's allowed call is in the decision records");
        Assert.DoesNotContain(alice, shared.Proxy.Logs.Text + shared.Proxy.Decisions.Text, StringComparison.Ordinal);
    }
}
