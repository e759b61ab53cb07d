using System.Security.Cryptography;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// On-behalf-of credentials for AI agents (issue 18, section 3), end to end with the real oidc-provider: an agent (a
/// workload on a loopback listener) calls an MCP server for a user whose ID token it carries; the proxy exchanges that
/// token (RFC 8693 <c>subject_token</c>) with a JWT it signs for the agent (<c>actor_token</c>), so the token the MCP
/// server receives names the user and, in <c>act</c>, the agent. Tokens are cached per (agent, user), never cross
/// users, and revoking the agent revokes every user's token at the issuer. The user's token never leaves the proxy.
/// </summary>
public sealed class McpOnBehalfOfTests : IDisposable
{
    private const string Agent = "spiffe://example.org/ns/agents/sa/coder";
    private const string ExchangeSecret = "canary-obo-exchange-3d81a0";
    private const string UiSecret = "canary-obo-ui-c4e2f9";

    private readonly TestPki _pki = new();

    private static object[] Clients() =>
    [
        new
        {
            client_id = "exchanger", client_secret = ExchangeSecret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
            grant_types = new[] { "urn:ietf:params:oauth:grant-type:token-exchange" }, token_endpoint_auth_method = "client_secret_basic",
        },
        new
        {
            client_id = "agent-ui", client_secret = UiSecret, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(),
            grant_types = new[] { OidcServer.IdTokenGrant }, token_endpoint_auth_method = "client_secret_basic",
        },
    ];

    private static string Config(Uri server, OidcServer oidc, int adminPort) => $$"""
        listeners:
          - name: agent
            url: http://127.0.0.1:0
            identity: coder
          - name: admin
            role: admin
            url: http://127.0.0.1:{{adminPort}}
          - name: admin-socket
            role: admin
            url: unix:admin-{{adminPort}}.sock
            allow: [{ uid: 0 }]
        identities:
          coder: { spiffeId: {{Agent}} }
        credentials:
          github-for-user:
            provider: oauth2-token-exchange
            issuer: {{oidc.Issuer}}
            clientId: exchanger
            clientSecretFile: exchange-secret
            subjectSigningKey: actor.key
            audience: github-api
            onBehalfOf: true
            userTokenType: urn:ietf:params:oauth:token-type:id_token
        policies:
          - name: coder-for-people
            allow: [coder]
            routes: [tools]
            mcp: { users: [alice, bob], tools: [echo_headers] }
        ReverseProxy:
          Routes:
            tools:
              ClusterId: mcp
              Match: { Path: "/user/mcp" }
              Metadata: { Protocol: mcp, Credential: github-for-user, McpUserHeader: X-Mcp-User, McpUserIssuer: "{{oidc.Issuer.GetLeftPart(UriPartial.Authority)}}", McpUserJwksUrl: "{{new Uri(oidc.Issuer, "/jwks")}}", McpUserAudience: agent-ui }
              Transforms: [ { PathSet: /mcp } ]
          Clusters:
            mcp:
              Destinations: { d1: { Address: "{{server}}" } }
        """;

    [Fact]
    public async Task The_mcp_server_gets_a_token_naming_the_user_and_acting_agent_cached_per_user_and_revoked_with_the_agent()
    {
        var adminPort = LoopbackPorts.Next();
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "actor.key"), key.ExportPkcs8PrivateKeyPem());
        }
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "exchange-secret"), ExchangeSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, Clients(), subjectJwks: new Uri($"http://127.0.0.1:{adminPort}/.well-known/jwks.json"));
        await using var server = await McpTestServer.StartAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(server.Address, oidc, adminPort));
        var endpoint = new Uri(proxy.Host.GetListenerUri("agent"), "/user/mcp");
        var alice = await oidc.IdTokenAsync("agent-ui", UiSecret, "alice");
        var bob = await oidc.IdTokenAsync("agent-ui", UiSecret, "bob");
        using var http = new HttpClient();
        async Task<McpClient> ConnectAsync(string token) => await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["X-Mcp-User"] = "Bearer " + token },
        }, http, ownsHttpClient: false));
        static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));
        string LastToken() => server.Requests.Authorizations.Last(a => a.Length > 0)["Bearer ".Length..];

        // Alice's agent calls a tool: the server receives a token the issuer made for alice, with the agent as actor.
        string aliceToken;
        await using (var client = await ConnectAsync(alice))
        {
            var echo = Text(await client.CallToolAsync("echo_headers"));
            Assert.Contains("Bearer ***", echo, StringComparison.Ordinal);
            aliceToken = LastToken();
            Assert.Contains("Bearer ***", Text(await client.CallToolAsync("echo_headers")), StringComparison.Ordinal);
            Assert.Equal(aliceToken, LastToken());
        }
        var introspected = await oidc.IntrospectAsync(aliceToken, "exchanger", ExchangeSecret);
        Assert.True(introspected.GetProperty("active").GetBoolean(), introspected.ToString());
        Assert.True(introspected.TryGetProperty("sub", out var sub) && sub.GetString() == "alice", introspected.ToString());
        Assert.True(introspected.TryGetProperty("act", out var act), introspected.ToString());
        Assert.Equal(Agent, act.GetProperty("sub").GetString());

        // Bob, through the same agent, gets a token of his own; alice's is not handed to him.
        await using (var client = await ConnectAsync(bob))
        {
            Assert.Contains("Bearer ***", Text(await client.CallToolAsync("echo_headers")), StringComparison.Ordinal);
        }
        var bobToken = LastToken();
        Assert.NotEqual(aliceToken, bobToken);
        Assert.Equal("bob", (await oidc.IntrospectAsync(bobToken, "exchanger", ExchangeSecret)).GetProperty("sub").GetString());
        // One exchange per user, every MCP message of a session (initialize, notifications, calls) served from the cache.
        await Eventually.Until(() => oidc.Exchanged.Count() >= 2, "both exchanges are in the issuer's log", lastSeen: () => oidc.Output);
        Assert.Equal([$"alice act {Agent}", $"bob act {Agent}"], oidc.Exchanged.Order(StringComparer.Ordinal));

        // The agent is revoked: both users' tokens are revoked at the issuer.
        using (var admin = new AdminClient(proxy))
        {
            var (status, body) = await admin.PostAsync("/workloads/revoke", new { identity = Agent });
            Assert.True(status == 200, body.ToString());
        }
        await Eventually.Until(async () => !(await oidc.IntrospectAsync(aliceToken, "exchanger", ExchangeSecret)).GetProperty("active").GetBoolean()
            && !(await oidc.IntrospectAsync(bobToken, "exchanger", ExchangeSecret)).GetProperty("active").GetBoolean(),
            "both users' tokens are revoked at the issuer", lastSeen: () => oidc.Output + "\n" + proxy.Logs.Text);

        // The user's token and the client secret stay in the proxy; records say who acted for whom.
        Assert.DoesNotContain(server.Requests.All, r => r.Body.Contains(alice, StringComparison.Ordinal));
        Assert.DoesNotContain(server.Requests.Authorizations, a => a.Contains(alice, StringComparison.Ordinal) || a.Contains(bob, StringComparison.Ordinal));
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text })
        {
            Assert.DoesNotContain(alice, text, StringComparison.Ordinal);
            Assert.DoesNotContain(bob, text, StringComparison.Ordinal);
            Assert.DoesNotContain(aliceToken, text, StringComparison.Ordinal);
            Assert.DoesNotContain(ExchangeSecret, text, StringComparison.Ordinal);
        }
        Assert.Contains("\"user\":\"alice\"", proxy.Decisions.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_call_without_a_user_token_gets_no_on_behalf_of_credential()
    {
        var adminPort = LoopbackPorts.Next();
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "actor.key"), key.ExportPkcs8PrivateKeyPem());
        }
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "exchange-secret"), ExchangeSecret);
        await using var oidc = await OidcServer.StartAsync(_pki.Directory, Clients(), subjectJwks: new Uri($"http://127.0.0.1:{adminPort}/.well-known/jwks.json"));
        await using var server = await McpTestServer.StartAsync();
        // The user token is optional on this route, and the rule covers any user: the credential still needs one.
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, _ => Config(server.Address, oidc, adminPort)
            .Replace("McpUserAudience: agent-ui", "McpUserAudience: agent-ui, McpUserRequired: \"false\"", StringComparison.Ordinal)
            .Replace("mcp: { users: [alice, bob], tools: [echo_headers] }", "mcp: { tools: [echo_headers] }", StringComparison.Ordinal));
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(proxy.Host.GetListenerUri("agent"), "/user/mcp"))
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json, text/event-stream");
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 502, $"{(int)response.StatusCode} {body}");
        Assert.Contains("credential_unavailable", body, StringComparison.Ordinal);
        Assert.Contains("no validated user token", body, StringComparison.Ordinal);
        Assert.Empty(server.Requests.All);
        Assert.Empty(oidc.Exchanged);
    }

    public void Dispose() => _pki.Dispose();
}
