using System.Net;
using System.Text;
using System.Text.Json;
using SecretlessProxy.Cli;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;
using SecretlessProxy.Identity;
using SecretlessProxy.Mcp;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Tests.Mcp;

/// <summary>The <c>mcp:</c> block of policy rules, compiled from YAML and decided, and the bounded JSON-RPC reader.</summary>
public sealed class McpPolicyTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    private static readonly WorkloadIdentity Agent = new(SpiffeId.Parse("spiffe://example.org/ns/agents/sa/coder"), DateTimeOffset.MaxValue);
    private static readonly WorkloadIdentity Other = new(SpiffeId.Parse("spiffe://example.org/ns/agents/sa/other"), DateTimeOffset.MaxValue);

    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-mcp-").FullName;

    public McpPolicyTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
        File.WriteAllText(Path.Combine(_dir, "token.txt"), "t");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Yaml(string policies, string metadata = "Protocol: mcp, Credential: tools") => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
        identities:
          coder: { spiffeId: spiffe://example.org/ns/agents/sa/coder }
          other: { spiffeId: spiffe://example.org/ns/agents/sa/other }
        credentials:
          tools: { provider: file, path: token.txt }
        policies:
        {{policies}}
        ReverseProxy:
          Routes:
            tools:
              ClusterId: mcp
              Match: { Path: "/mcp/{**rest}" }
              Metadata: { {{metadata}} }
            plain:
              ClusterId: mcp
              Match: { Path: "/plain/{**rest}" }
          Clusters:
            mcp:
              Destinations: { d1: { Address: "http://127.0.0.1:9/" } }
        """;

    private const string Rules = """
          - name: coder-tools
            allow: [coder]
            routes: [tools]
            mcp:
              tools: [search_repos, "get_*"]
              resources: ["file:///docs/**"]
              prompts: [summarize]
              arguments:
                "/repo": { pattern: "acme/*" }
                "/limit": { max: 100, optional: true }
                "/mode": { values: [fast, careful], optional: true }
          - name: coder-echo
            allow: [coder]
            routes: [tools]
            mcp: { tools: [echo], methods: [] }
          - name: no-secrets
            deny: [coder]
            routes: [tools]
            mcp: { tools: [get_secret] }
          - name: other-connects
            allow: [other]
            routes: [tools, plain]
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
    }

    private static Decision Decide(ProxyConfig config, WorkloadIdentity caller, string method, string? name = null, string? arguments = null, bool listing = false)
    {
        var args = arguments is null ? default : JsonDocument.Parse(arguments).RootElement;
        return config.Policy.Decide(caller, "tools", "POST", "/mcp", Now, null, new DecisionContext(null, null, null, new McpCall(method, name, args, listing)));
    }

    [Fact]
    public async Task Tool_calls_are_decided_by_name_and_arguments_naming_the_rule()
    {
        var result = await CompileAsync(Yaml(Rules));
        Assert.Empty(result.Errors);
        using var config = result.Config!;
        Assert.True(config.McpRoutes.ContainsKey("tools"));
        Assert.False(config.McpRoutes.ContainsKey("plain"));
        Assert.True(config.RouteSecurity["tools"].RedactBody);

        var allowed = Decide(config, Agent, "tools/call", "search_repos", """{"repo":"acme/widgets","limit":10}""");
        Assert.True(allowed.IsAllowed, allowed.Detail);
        Assert.Equal("coder-tools", allowed.Rule!.Name);
        Assert.True(Decide(config, Agent, "tools/call", "get_issue", """{"repo":"acme/x","mode":"fast"}""").IsAllowed);

        var byName = Decide(config, Agent, "tools/call", "delete_repo", """{"repo":"acme/widgets"}""");
        Assert.False(byName.IsAllowed);
        Assert.Equal(RefusalCatalog.NoRuleMatched.Reason, byName.Reason);
        Assert.Contains("coder-tools", byName.Detail, StringComparison.Ordinal);

        var wrongRepo = Decide(config, Agent, "tools/call", "search_repos", """{"repo":"evil/widgets"}""");
        Assert.Equal(RefusalCatalog.McpArgumentRefused.Reason, wrongRepo.Reason);
        Assert.Equal("coder-tools", wrongRepo.Rule!.Name);
        Assert.Contains("/repo", wrongRepo.Detail, StringComparison.Ordinal);
        Assert.Contains("acme/*", wrongRepo.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("evil", wrongRepo.Detail, StringComparison.Ordinal);

        Assert.Equal(RefusalCatalog.McpArgumentRefused.Reason, Decide(config, Agent, "tools/call", "search_repos", """{"repo":"acme/a","limit":101}""").Reason);
        Assert.Equal(RefusalCatalog.McpArgumentRefused.Reason, Decide(config, Agent, "tools/call", "search_repos", """{"repo":"acme/a","limit":"5"}""").Reason);
        Assert.Equal(RefusalCatalog.McpArgumentRefused.Reason, Decide(config, Agent, "tools/call", "search_repos", """{"limit":5}""").Reason);
        Assert.Equal(RefusalCatalog.McpArgumentRefused.Reason, Decide(config, Agent, "tools/call", "search_repos", """{"repo":"acme/a","mode":"reckless"}""").Reason);
        Assert.Equal(RefusalCatalog.McpArgumentRefused.Reason, Decide(config, Agent, "tools/call", "search_repos", null).Reason);

        var secret = Decide(config, Agent, "tools/call", "get_secret", """{"repo":"acme/a"}""");
        Assert.Equal(RefusalCatalog.DeniedByRule.Reason, secret.Reason);
        Assert.Equal("no-secrets", secret.Rule!.Name);

        // The HTTP request (the POST itself) is allowed by the allow rule; the deny rule's mcp block does not refuse it.
        Assert.True(config.Policy.Decide(Agent, "tools", "POST", "/mcp", Now).IsAllowed);
        // A rule without an mcp block lets a caller connect (the HTTP request) but covers no MCP message.
        Assert.True(config.Policy.Decide(Other, "tools", "POST", "/mcp", Now).IsAllowed);
        Assert.False(Decide(config, Other, "initialize").IsAllowed);
        Assert.False(Decide(config, Other, "tools/call", "search_repos", """{"repo":"acme/a"}""").IsAllowed);
    }

    [Fact]
    public async Task Lifecycle_methods_lists_resources_and_prompts()
    {
        using var config = (await CompileAsync(Yaml(Rules))).Config!;
        Assert.True(Decide(config, Agent, "initialize").IsAllowed);
        Assert.True(Decide(config, Agent, "notifications/initialized").IsAllowed);
        Assert.True(Decide(config, Agent, "ping").IsAllowed);
        Assert.False(Decide(config, Agent, "logging/setLevel").IsAllowed);
        Assert.False(Decide(config, Agent, "sampling/whatever").IsAllowed);
        Assert.True(Decide(config, Agent, "tools/list").IsAllowed);
        Assert.True(Decide(config, Agent, "resources/list").IsAllowed);
        Assert.True(Decide(config, Agent, "prompts/list").IsAllowed);

        Assert.True(Decide(config, Agent, "resources/read", "file:///docs/a/b.md").IsAllowed);
        Assert.False(Decide(config, Agent, "resources/read", "file:///etc/passwd").IsAllowed);
        Assert.True(Decide(config, Agent, "prompts/get", "summarize", """{"repo":"acme/a"}""").IsAllowed);
        Assert.False(Decide(config, Agent, "prompts/get", "jailbreak").IsAllowed);

        // Listing: an allow rule shows a tool whatever its argument rules; a deny rule by name hides it.
        Assert.True(Decide(config, Agent, "tools/call", "search_repos", listing: true).IsAllowed);
        Assert.True(Decide(config, Agent, "tools/call", "echo", listing: true).IsAllowed);
        Assert.False(Decide(config, Agent, "tools/call", "get_secret", listing: true).IsAllowed);
        Assert.False(Decide(config, Agent, "tools/call", "delete_repo", listing: true).IsAllowed);
    }

    [Theory]
    [InlineData("mcp: { tools: [a] }", "names none of the rule's routes as an MCP route", "Credential: tools")]
    [InlineData("mcp: { tools: [a], arguments: { repo: { pattern: x } } }", "is not a JSON pointer", "Protocol: mcp")]
    [InlineData("mcp: { tools: [a], arguments: { \"/repo\": { regex: \"(a\" } } }", "regular expression", "Protocol: mcp")]
    [InlineData("mcp: { tools: [a], arguments: { \"/repo\": { optional: true } } }", "constrains nothing", "Protocol: mcp")]
    [InlineData("mcp: { tools: [a], arguments: { \"/n\": { min: 5, max: 1 } } }", "is below min", "Protocol: mcp")]
    [InlineData("mcp: { tool: [a] }", "tool", "Protocol: mcp")]
    [InlineData("mcp: { arguments: { \"/n\": { max: 1 } } }", "names neither tools nor prompts", "Protocol: mcp")]
    [InlineData("mcp: { tools: [a] }", "is not a protocol the proxy reads", "Protocol: grpc")]
    [InlineData("mcp: { tools: [a] }", "is not a whole number", "Protocol: mcp, McpMaxDepth: deep")]
    [InlineData("mcp: { tools: [a] }", "applies to MCP routes only", "McpMaxDepth: \"8\"")]
    [InlineData("mcp: { users: [alice], tools: [a] }", "none of the rule's routes takes a user token", "Protocol: mcp")]
    [InlineData("mcp: { tools: [a] }", "is required with McpUserHeader", "Protocol: mcp, McpUserHeader: X-User, McpUserJwksUrl: \"https://idp/jwks\"")]
    [InlineData("mcp: { tools: [a] }", "must be the issuer's JWKS URL", "Protocol: mcp, McpUserHeader: X-User, McpUserIssuer: \"https://idp\"")]
    [InlineData("mcp: { tools: [a] }", "applies only with McpUserHeader", "Protocol: mcp, McpUserAudience: x")]
    public async Task Config_errors_name_the_key(string block, string expected, string metadata)
    {
        var result = await CompileAsync(Yaml($"  - name: r\n    allow: [coder]\n    routes: [tools]\n    {block}", metadata));
        result.Config?.Dispose();
        Assert.Contains(expected, string.Join("\n", result.Errors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_mcp_route_without_an_mcp_allow_rule_is_warned_about()
    {
        var result = await CompileAsync(Yaml("  - name: r\n    allow: [coder]\n    routes: [tools]"));
        result.Config?.Dispose();
        Assert.Empty(result.Errors);
        Assert.Contains(result.Warnings, w => w.ToString().Contains("no allow rule with an mcp block", StringComparison.Ordinal));
    }

    [Fact]
    public void Users_in_an_mcp_block_cover_only_those_users()
    {
        Assert.True(SpiffeIdPattern.TryParse(Agent.SpiffeId.Value, out var pattern, out _));
        var model = new PolicyModel([new PolicyRule("acme-users", 0, false, [pattern], ["tools"], null, null, null,
            mcp: new McpRule(null, ["echo"], null, null, null, ["alice", "*@acme.example"]))]);
        Decision For(string? user, string method = "tools/call") =>
            model.Decide(Agent, "tools", "POST", "/mcp", Now, null, new DecisionContext(null, null, null, new McpCall(method, "echo") { User = user }));
        Assert.True(For("alice").IsAllowed);
        Assert.True(For("carol@acme.example").IsAllowed);
        Assert.True(For("alice", "initialize").IsAllowed);
        Assert.False(For("bob").IsAllowed);
        Assert.False(For("bob", "initialize").IsAllowed);
        Assert.Contains("mcp user", For(null).Detail, StringComparison.Ordinal);
    }

    private static McpRequestBody? Read(string body, out McpReadError error, int depth = 16, int batch = 8) =>
        McpMessageReader.Read(Encoding.UTF8.GetBytes(body), depth, batch, out error);

    [Theory]
    [InlineData("{", McpMessageReader.ParseError)]
    [InlineData("", McpMessageReader.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing", McpMessageReader.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",}", McpMessageReader.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\" /* c */}", McpMessageReader.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"method\":\"ping\"}", McpMessageReader.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"name\":\"b\"}}", McpMessageReader.ParseError)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"na\\u006de\":\"b\"}}", McpMessageReader.ParseError)]
    [InlineData("[]", McpMessageReader.InvalidRequest)]
    [InlineData("42", McpMessageReader.InvalidRequest)]
    [InlineData("[1]", McpMessageReader.InvalidRequest)]
    [InlineData("{\"id\":1,\"method\":\"ping\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"Method\":\"tools/call\",\"method\":\"ping\"}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1}", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", McpMessageReader.InvalidRequest)]
    [InlineData("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", McpMessageReader.InvalidRequest)]
    [InlineData("[{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}]", McpMessageReader.InvalidRequest)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}", McpMessageReader.InvalidParams)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}", McpMessageReader.InvalidParams)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":3}}", McpMessageReader.InvalidParams)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"Name\":\"delete\",\"name\":\"echo\"}}", McpMessageReader.InvalidParams)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":[1]}}", McpMessageReader.InvalidParams)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":null}}", McpMessageReader.InvalidParams)]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\",\"params\":{\"name\":\"p\",\"arguments\":\"x\"}}", McpMessageReader.InvalidParams)]
    public void Malformed_messages_get_a_json_rpc_error_code(string body, int code)
    {
        Assert.Null(Read(body, out var error));
        Assert.Equal(code, error.Code);
        Assert.False(string.IsNullOrEmpty(error.Message));
    }

    [Fact]
    public void Deep_nesting_and_big_batches_are_refused_within_bounds()
    {
        var deep = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"arguments\":{\"x\":" + new string('[', 5000) + new string(']', 5000) + "}}}";
        Assert.Null(Read(deep, out var error));
        Assert.Equal(McpMessageReader.ParseError, error.Code);
        Assert.Contains("deeper than 16", error.Message, StringComparison.Ordinal);

        var batch = "[" + string.Join(",", Enumerable.Range(0, 9).Select(i => $"{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}")) + "]";
        Assert.Null(Read(batch, out error));
        Assert.Contains("at most 8", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Well_formed_messages_are_read_with_what_the_policy_decides_on()
    {
        using var body = Read("""
            [{"jsonrpc":"2.0","id":"a1","method":"tools/call","params":{"name":"search_repos","arguments":{"repo":"acme/w","limit":5},"_meta":{"progressToken":1}}},
             {"jsonrpc":"2.0","method":"notifications/initialized"},
             {"jsonrpc":"2.0","id":7,"result":{}},
             {"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///docs/x"}}]
            """, out _);
        Assert.NotNull(body);
        Assert.True(body.IsBatch);
        Assert.Equal([JsonRpcKind.Request, JsonRpcKind.Notification, JsonRpcKind.Response, JsonRpcKind.Request], body.Messages.Select(m => m.Kind));
        Assert.Equal("search_repos", body.Messages[0].Call!.Name);
        Assert.Equal(5, body.Messages[0].Call!.Arguments.GetProperty("limit").GetInt32());
        Assert.Equal("s:a1", body.Messages[0].IdKey);
        Assert.Null(body.Messages[2].Call);
        Assert.Equal("file:///docs/x", body.Messages[3].Name);
    }

    [Theory]
    [InlineData("/a~1b", "a/b")]
    [InlineData("/a~0b", "a~b")]
    [InlineData("/list/1", null)]
    public void Json_pointers_follow_rfc_6901(string path, string? key)
    {
        var rule = new ArgumentRule(path, values: ["ok"]);
        var arguments = JsonDocument.Parse(key is null ? """{"list":["no","ok"]}""" : $$"""{"{{key}}":"ok"}""").RootElement;
        Assert.Null(rule.Mismatch(arguments));
        Assert.False(ArgumentRule.TryParsePointer("/bad~2", out _, out _));
        Assert.False(ArgumentRule.TryParsePointer("nope", out _, out _));
    }
}
