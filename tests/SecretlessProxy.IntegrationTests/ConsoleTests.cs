using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The web console (issue 21, section 5), end to end in Debian's headless Chromium driven by Playwright: an approver
/// presenting an admin SVID approves a workload's access request in the browser and the workload's route opens; an
/// admin the rule does not list is refused with the reason on the page; grants are revoked in the browser; the
/// inventory and decisions pages show what the API shows and never a secret. Forms from another origin, read-only
/// consoles and a console turned off are refused.
/// </summary>
public sealed class ConsoleTests : IDisposable
{
    private const string Runner = "spiffe://example.org/ns/ci/sa/runner";
    private const string Sre = "spiffe://example.org/ns/sre/sa/alice";

    private readonly TestPki _pki = new();

    private static string Config(Uri upstream, string consoleMode = "read-write", bool openLoopback = false) =>
        ProxyUnderTest.DefaultConfig(upstream,
                extraPolicies: $"  - name: ci-deploys\n    allow: [\"{Runner}\"]\n    routes: [deploy]\n    requireGrant: true\n    approvers: [\"spiffe://example.org/ns/sre/*\"]",
                extraRoutes: "    deploy: { ClusterId: upstream, Match: { Path: \"/deploy/{**rest}\" }, Metadata: { Credential: github } }")
            .Replace("listeners:\n", "listeners:\n  - name: admin-mtls\n    role: admin\n    url: https://127.0.0.1:0\n    certificate: { cert: server.pem, key: server.key }\n"
                + $"    trustBundles: {{ example.org: example.org.pem }}\n    allow: [\"spiffe://example.org/ns/sre/*\", \"spiffe://example.org/ns/payments/sa/api\"]\n    console: {consoleMode}\n", StringComparison.Ordinal)
            .Replace("    url: http://127.0.0.1:0\n", "    url: http://127.0.0.1:0\n" + (openLoopback ? "    unsafeOpenLoopback: true\n" : ""), StringComparison.Ordinal)
            + "\ngrants: { maxDuration: \"02:00:00\" }\napprovals:\n  requestTtl: 10m\n";

    private static Task<JsonElement> BrowseAsync(Uri console, (string Cert, string Key)? certificate, params object[] steps)
    {
        NodeProcess.RequirePackage("console", "playwright-core");
        Assert.True(File.Exists("/usr/bin/chromium"), "Chromium is not installed: run 'bash scripts/test.sh' (it installs Debian's chromium)");
        var input = new Dictionary<string, object?> { ["base"] = console.ToString(), ["cert"] = certificate?.Cert, ["key"] = certificate?.Key, ["steps"] = steps };
        return NodeProcess.RunClientAsync("console", "the browser", "browse.mjs", JsonSerializer.Serialize(input));
    }

    private static string? Value(JsonElement result, string name) =>
        result.GetProperty("values").TryGetProperty(name, out var value) ? value.ValueKind == JsonValueKind.Number ? value.GetRawText() : value.GetString() : null;

    /// <summary>Where the screenshots go: docs/console when SECRETLESS_CONSOLE_SCREENSHOTS=1 (to refresh them), else a temp folder.</summary>
    private string Screenshot(string name)
    {
        if (Environment.GetEnvironmentVariable("SECRETLESS_CONSOLE_SCREENSHOTS") == "1")
        {
            var docs = Path.Combine(Path.GetDirectoryName(NodeProcess.Folder("console"))!, "..", "..", "docs", "console");
            Directory.CreateDirectory(docs);
            return Path.GetFullPath(Path.Combine(docs, name));
        }
        return Path.Combine(_pki.Directory, name);
    }

    private static async Task<string> RequestAccessAsync(HttpClient runner, ProxyUnderTest proxy, string reason)
    {
        using var response = await runner.PostAsJsonAsync(new Uri(proxy.ProxyUri, "/grants/requests"), new { route = "deploy", duration = "30m", reason });
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return body.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task An_approver_opens_access_in_the_browser_and_revokes_it_there()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        using var runner = _pki.Client(_pki.Svid(Runner));
        var console = proxy.Host.GetListenerUri("admin-mtls");
        var sre = _pki.WritePem(_pki.Svid(Sre), "sre");
        var payments = _pki.WritePem(_pki.Svid(TestPki.PaymentsId), "payments-admin");

        Assert.Equal(HttpStatusCode.Forbidden, (await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v1"))).StatusCode);
        var id = await RequestAccessAsync(runner, proxy, "CHG-7 <script>alert(1)</script>");

        // An admin the rule does not list sees the request but is refused, with the reason on the page.
        var refused = await BrowseAsync(console, payments,
            new { @goto = "/console/requests" },
            new { click = $"#pending-{id} button.approve" },
            new { text = "#error", @as = "error" },
            new { html = "page" });
        Assert.Equal("403", Value(refused, "status:click"));
        Assert.True(Value(refused, "error")?.Contains("not_an_approver", StringComparison.Ordinal) == true, Value(refused, "page"));

        // A listed approver approves it: the grant is live and the workload's route opens.
        var approved = await BrowseAsync(console, sre,
            new { @goto = "/console" },
            new { screenshot = Screenshot("overview.png") },
            new { text = "[data-fact=ready]", @as = "ready" },
            new { @goto = "/console/requests" },
            new { html = "requests" },
            new { screenshot = Screenshot("requests.png") },
            new { fill = $"#pending-{id} input[name=note]", value = "in the change window" },
            new { click = $"#pending-{id} button.approve" },
            new { text = "#notice", @as = "notice" },
            new { text = $"#closed-{id} [data-column=status]", @as = "status" },
            new { @goto = "/console/grants" },
            new { screenshot = Screenshot("grants.png") },
            new { text = "#live [data-column=identity]", @as = "grantee" });
        Assert.Equal("200", Value(approved, "status:/console"));
        Assert.Equal("yes", Value(approved, "ready"));
        var requestsHtml = Value(approved, "requests")!;
        Assert.DoesNotContain("<script>alert(1)</script>", requestsHtml, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", requestsHtml, StringComparison.Ordinal);
        Assert.Equal("200", Value(approved, "status:click"));
        Assert.StartsWith($"Approved {id}: grant ", Value(approved, "notice"), StringComparison.Ordinal);
        Assert.Equal("approved", Value(approved, "status"));
        Assert.Equal(Runner, Value(approved, "grantee"));
        Assert.Equal(HttpStatusCode.OK, (await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v1"))).StatusCode);

        // The inventory and decisions pages show the workload and its decisions, never the secret.
        var pages = await BrowseAsync(console, sre,
            new { @goto = "/console/inventory" },
            new { screenshot = Screenshot("inventory.png") },
            new { html = "inventory" },
            new { @goto = "/console/decisions?identity=ci/sa/runner&outcome=allow" },
            new { screenshot = Screenshot("decisions.png") },
            new { html = "decisions" },
            new { text = "#decisions tbody tr:first-child [data-column=route]", @as = "route" },
            new { @goto = "/console/decisions?outcome=deny&reason=grant_required" },
            new { text = "#decisions tbody tr:first-child [data-column=identity]", @as = "deniedIdentity" });
        Assert.Contains(Runner, Value(pages, "inventory"), StringComparison.Ordinal);
        Assert.Equal("deploy", Value(pages, "route"));
        Assert.Equal(Runner, Value(pages, "deniedIdentity"));
        foreach (var page in new[] { Value(pages, "inventory")!, Value(pages, "decisions")!, requestsHtml })
        {
            Assert.DoesNotContain(ProxyUnderTest.Canary, page, StringComparison.Ordinal);
        }

        // Revoked in the browser: the route closes again.
        var revoked = await BrowseAsync(console, sre,
            new { @goto = "/console/grants" },
            new { click = "#live button.revoke" },
            new { text = "#notice", @as = "notice" },
            new { text = "#live", @as = "live" });
        Assert.StartsWith("Revoked ", Value(revoked, "notice"), StringComparison.Ordinal);
        Assert.Equal("No grant is live.", Value(revoked, "live"));
        Assert.Equal(HttpStatusCode.Forbidden, (await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/v1"))).StatusCode);
        Assert.DoesNotContain(ProxyUnderTest.Canary, proxy.Logs.Text + proxy.Decisions.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_admin_certificate_the_browser_gets_the_admin_APIs_refusal()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        var page = await BrowseAsync(proxy.Host.GetListenerUri("admin-mtls"), null, new { @goto = "/console" }, new { html = "body" });
        Assert.Equal("401", Value(page, "status:/console"));
        Assert.Contains("client_certificate_required", Value(page, "body"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_form_from_another_origin_is_refused_and_the_pages_forbid_scripts_and_framing()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        using var runner = _pki.Client(_pki.Svid(Runner));
        using var sre = _pki.Client(_pki.Svid(Sre));
        var console = proxy.Host.GetListenerUri("admin-mtls");
        var id = await RequestAccessAsync(runner, proxy, "CHG-8");

        async Task<(HttpStatusCode Status, string Body)> ApproveAsync(params (string Name, string Value)[] headers)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(console, $"/console/requests/{id}/approve"))
            {
                Content = new FormUrlEncodedContent([new("note", "forged")]),
            };
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
            using var response = await sre.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }

        foreach (var headers in new[] { [("Origin", "https://evil.example")], [("Sec-Fetch-Site", "cross-site")], Array.Empty<(string, string)>() })
        {
            var (status, body) = await ApproveAsync(headers);
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("console_cross_origin", body, StringComparison.Ordinal);
        }
        using (var list = await sre.GetAsync(new Uri(console, "/grants/requests")))
        {
            Assert.Contains("\"status\":\"pending\"", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        // From the console's own origin it is accepted (the client follows the 303 back to the requests page).
        var (approvedStatus, approvedPage) = await ApproveAsync(("Origin", $"{console.Scheme}://{console.Authority}"));
        Assert.Equal(HttpStatusCode.OK, approvedStatus);
        Assert.Contains($"Approved {id}", approvedPage, StringComparison.Ordinal);

        using var page = await sre.GetAsync(new Uri(console, "/console"));
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var csp = string.Join(";", page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("default-src 'none'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", await page.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        using var missing = await sre.GetAsync(new Uri(console, "/console/nothing-here"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task A_read_only_console_shows_no_forms_and_refuses_posts_and_an_off_console_is_no_endpoint()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, consoleMode: "read-only", openLoopback: true));
        using var runner = _pki.Client(_pki.Svid(Runner));
        using var sre = _pki.Client(_pki.Svid(Sre));
        using var plain = new HttpClient();
        var id = await RequestAccessAsync(runner, proxy, "CHG-9");

        // Read-only on the mTLS listener; the open loopback listener's anonymous caller never answers either.
        foreach (var (client, console) in new[] { (sre, proxy.Host.GetListenerUri("admin-mtls")), (plain, proxy.AdminUri) })
        {
            var html = await client.GetStringAsync(new Uri(console, "/console/requests"));
            Assert.Contains(id, html, StringComparison.Ordinal);
            Assert.DoesNotContain("<form class=\"inline\"", html, StringComparison.Ordinal);
            Assert.Contains("read-only", html, StringComparison.Ordinal);
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(console, $"/console/requests/{id}/approve")) { Content = new FormUrlEncodedContent([]) };
            request.Headers.TryAddWithoutValidation("Origin", $"{console.Scheme}://{console.Authority}");
            using var post = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
            Assert.Contains("console_read_only", await post.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, consoleMode: "off")));
        using var off = await sre.GetAsync(new Uri(proxy.Host.GetListenerUri("admin-mtls"), "/console"));
        Assert.Equal(HttpStatusCode.NotFound, off.StatusCode);
        Assert.Contains("no_admin_endpoint", await off.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
