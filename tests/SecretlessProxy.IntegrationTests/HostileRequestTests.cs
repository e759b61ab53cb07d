using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The black-box review's findings, end to end with real curl against a proxy in front of an upstream that reflects
/// requests the way common servers do. The corpus is a table: a new bypass is one row.
/// </summary>
public sealed class HostileRequestTests(HostileRequestTests.Fixture shared) : IClassFixture<HostileRequestTests.Fixture>
{
    public const string ApiKey = "canary-apikey-5b1e07d94c";

    public sealed class Fixture : IAsyncLifetime
    {
        public TestPki Pki { get; } = new();

        public ReflectingUpstream Reflect { get; private set; } = null!;

        public ProxyUnderTest Proxy { get; private set; } = null!;

        public (string Cert, string Key) Svid { get; private set; }

        public async Task InitializeAsync()
        {
            Reflect = await ReflectingUpstream.StartAsync();
            await File.WriteAllTextAsync(Path.Combine(Pki.Directory, "api-key.txt"), ApiKey + "\n");
            Proxy = await ProxyUnderTest.StartAsync(Pki, u => Config(u, Reflect.Address));
            Svid = Pki.WritePem(Pki.Svid(), "hostile");
        }

        public async Task DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Reflect.DisposeAsync();
            Pki.Dispose();
        }
    }

    private static string Config(Uri upstream, Uri reflect) =>
        ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: "  apikey:\n    provider: file\n    path: api-key.txt\n    inject: { type: query, name: api_key }",
            extraPolicies: """
                  - name: h-reads-and-posts
                    allow: [payments]
                    routes: [h]
                    methods: [GET, POST]
                  - name: no-admin
                    deny: [payments]
                    routes: [h]
                    paths: ["/h/**/admin/**", "/h/admin/**"]
                  - name: anything-goes
                    allow: [payments]
                    routes: [q, keep, plain]
                  - name: trace-named
                    allow: [payments]
                    routes: [t]
                    methods: [GET, TRACE]
                """,
            extraRoutes: """
                    h:
                      ClusterId: reflect
                      Match: { Path: "/h/{**rest}" }
                      Metadata: { Credential: github }
                    q:
                      ClusterId: reflect
                      Match: { Path: "/q/{**rest}" }
                      Metadata: { Credential: apikey }
                      Transforms: [ { PathRemovePrefix: /q } ]
                    keep:
                      ClusterId: reflect
                      Match: { Path: "/keep/{**rest}" }
                      Metadata: { Credential: github, KeepHeaders: "X-HTTP-Method-Override" }
                    plain:
                      ClusterId: reflect
                      Match: { Path: "/plain/{**rest}" }
                      Metadata: { Credential: github, RedactResponseBody: "false" }
                    t:
                      ClusterId: reflect
                      Match: { Path: "/t/{**rest}" }
                      Metadata: { Credential: github }
                """)
        .Replace("  Clusters:\n", $"  Clusters:\n    reflect:\n      Destinations:\n        d1: {{ Address: \"{reflect}\" }}\n", StringComparison.Ordinal);

    private string Base => shared.Proxy.ProxyUri.ToString().TrimEnd('/');

    private Task<Curl.Result> CurlAsync(params string[] args) => Curl.RunAsync([.. Curl.Mtls(shared.Pki, shared.Svid), .. args]);

    /// <summary>Requests the proxy must refuse before anything reaches the upstream: method, raw target, status, reason.</summary>
    public static TheoryData<string, string, int, string> Refused => new()
    {
        // A '#' in the target: Kestrel keeps it, and what follows was resolved upstream past the deny on admin.
        { "TRACE", "/h/x#/../admin;x/users", 400, "request_target_fragment" },
        { "GET", "/h/x#\\..\\admin", 400, "request_target_fragment" },
        { "GET", "/h/x?y=1#/../admin", 400, "request_target_fragment" },
        // Characters an upstream that normalizes Unicode reads as '.' or '/'.
        { "GET", "/h/%EF%BC%8E%EF%BC%8E/admin/users", 400, "path_unicode_separator" },
        { "GET", "/h/x%E2%88%95admin", 400, "path_unicode_separator" },
        { "GET", "/h/x%EF%BC%8Fadmin%EF%BC%8Fusers", 400, "path_unicode_separator" },
        { "GET", "/h/x%EF%BC%BCadmin", 400, "path_unicode_separator" },
        // TRACE reflects the injected Authorization: an allow rule without methods does not cover it.
        { "TRACE", "/q/anything", 403, "no_rule_matched" },
        // A _method override on a route whose rules allow only some methods.
        { "GET", "/h/x?_method=DELETE", 403, "method_override_refused" },
        { "POST", "/h/x?a=1&_METHOD=delete", 403, "method_override_refused" },
        // The deny the tricks above tried to get around.
        { "GET", "/h/admin/users", 403, "denied_by_rule" },
        { "GET", "/h/x/admin/users", 403, "denied_by_rule" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task Hostile_targets_are_refused_and_never_forwarded(string method, string target, int status, string reason)
    {
        var before = shared.Reflect.Requests.Count;
        var result = await CurlAsync("-X", method, "--request-target", target, Base + "/");
        Assert.Equal(status, result.Status);
        var problem = JsonDocument.Parse(result.Body).RootElement;
        Assert.Equal(reason, problem.GetProperty("reason").GetString());
        Assert.Equal(before, shared.Reflect.Requests.Count);
        Assert.DoesNotContain(shared.Reflect.Requests, r => r.PathAndQuery.Contains("admin", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Raw_non_ascii_lookalikes_are_refused_too()
    {
        var before = shared.Reflect.Requests.Count;
        var result = await CurlAsync("--path-as-is", Base + "/h/\uFF0E\uFF0E/admin/users");
        Assert.Equal(400, result.Status);
        Assert.Equal(before, shared.Reflect.Requests.Count);
    }

    [Fact]
    public async Task Override_headers_are_stripped_unless_the_route_keeps_one()
    {
        var overrides = new[] { "X-HTTP-Method-Override: DELETE", "X-HTTP-Method: DELETE", "X-Method-Override: DELETE", "X-Original-URL: /h/admin/users", "X-Rewrite-URL: /h/admin/users" };
        var args = overrides.SelectMany(h => new[] { "-H", h }).ToArray();

        var result = await CurlAsync([.. args, Base + "/h/override-check"]);
        Assert.Equal(200, result.Status);
        var received = Assert.Single(shared.Reflect.Requests, r => r.PathAndQuery == "/h/override-check");
        foreach (var header in overrides)
        {
            Assert.False(received.Headers.ContainsKey(header[..header.IndexOf(':', StringComparison.Ordinal)]), header);
        }

        result = await CurlAsync([.. args, Base + "/keep/override-check"]);
        Assert.Equal(200, result.Status);
        received = Assert.Single(shared.Reflect.Requests, r => r.PathAndQuery == "/keep/override-check");
        Assert.Equal("DELETE", received.Headers["X-HTTP-Method-Override"]);
        Assert.False(received.Headers.ContainsKey("X-Original-URL"));
        Assert.False(received.Headers.ContainsKey("X-HTTP-Method"));
    }

    [Fact]
    public async Task A_method_override_passes_where_no_rule_restricts_methods()
    {
        var result = await CurlAsync(Base + "/q/free?_method=DELETE");
        Assert.Equal(200, result.Status);
        Assert.Contains(shared.Reflect.Requests, r => r.PathAndQuery.StartsWith("/free?_method=DELETE", StringComparison.Ordinal));
    }

    /// <summary>Runs curl with -i, so the response's headers and body can be searched together.</summary>
    private async Task<(int Status, string Response)> FetchAsync(params string[] args)
    {
        var result = await CurlAsync(["-i", .. args]);
        return (result.Status, result.Body);
    }

    [Fact]
    public async Task A_redirect_that_keeps_the_query_does_not_hand_the_api_key_back()
    {
        var (status, response) = await FetchAsync(Base + "/q/dir?x=1");
        Assert.Equal(301, status);
        Assert.DoesNotContain(ApiKey, response, StringComparison.Ordinal);
        Assert.Contains("api_key=" + new string('*', ApiKey.Length), response, StringComparison.Ordinal);
        // The upstream did get the key: the mask is on the way back only.
        Assert.Contains(shared.Reflect.Requests, r => r.PathAndQuery.Contains("api_key=" + ApiKey, StringComparison.Ordinal));
        var record = await shared.Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("route").GetString() == "q" && r.GetProperty("status").GetInt32() == 301);
        Assert.Equal(1, record.GetProperty("redactions").GetProperty("headers").GetInt32());
        var metrics = await Scrape.WaitForAsync(shared.Proxy, "secretless_response_redactions_total", "route=\"q\",where=\"headers\"", v => v >= 1);
        Assert.DoesNotContain(ApiKey, metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_default_404_page_quoting_the_url_does_not_hand_the_api_key_back()
    {
        var (status, response) = await FetchAsync(Base + "/q/missing/page?x=1");
        Assert.Equal(404, status);
        Assert.Contains("was not found on this server", response, StringComparison.Ordinal);
        Assert.DoesNotContain(ApiKey, response, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(ApiKey), response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trace_named_by_a_rule_still_does_not_hand_the_token_back()
    {
        var (status, response) = await FetchAsync("-X", "TRACE", Base + "/t/anything");
        Assert.Equal(200, status);
        Assert.Contains("Authorization: Bearer " + new string('*', ProxyUnderTest.Canary.Length), response, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, response, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.1")]
    [InlineData("2")]
    public async Task A_body_echoing_the_token_a_few_bytes_at_a_time_is_masked(string version)
    {
        var (status, response) = await FetchAsync(version == "2" ? "--http2" : "--http1.1", Base + "/h/echo");
        Assert.Equal(200, status);
        Assert.Contains("Authorization: Bearer ****", response, StringComparison.Ordinal);
        Assert.DoesNotContain(ProxyUnderTest.Canary, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_compressed_answer_is_asked_for_uncompressed_so_it_can_be_masked()
    {
        var (status, response) = await FetchAsync("--compressed", Base + "/h/gzip");
        Assert.Equal(200, status);
        Assert.DoesNotContain(ProxyUnderTest.Canary, response, StringComparison.Ordinal);
        var received = shared.Reflect.Requests.Last(r => r.PathAndQuery == "/h/gzip");
        Assert.False(received.Headers.ContainsKey("Accept-Encoding"));
    }

    [Fact]
    public async Task Refresh_link_and_content_location_are_masked()
    {
        var (status, response) = await FetchAsync(Base + "/q/refresh?page=2");
        Assert.Equal(200, status);
        Assert.DoesNotContain(ApiKey, response, StringComparison.Ordinal);
        Assert.Contains("Refresh: 0; url=/refresh?page=2&api_key=*", response, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_route_may_turn_body_masking_off()
    {
        var (status, response) = await FetchAsync(Base + "/plain/echo");
        Assert.Equal(200, status);
        Assert.Contains("Authorization: Bearer " + ProxyUnderTest.Canary, response, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reflected_credentials_reach_no_log_record_metric_or_answer()
    {
        var answers = new List<string>();
        foreach (var args in new[]
        {
            new[] { Base + "/q/dir?x=canary" }, [Base + "/q/missing/x"], ["-X", "TRACE", Base + "/t/x"], [Base + "/h/echo"],
            ["--compressed", Base + "/h/gzip"], [Base + "/q/refresh?p=1"], ["-X", "TRACE", "--request-target", "/h/x#/../admin", Base + "/"],
        })
        {
            answers.Add((await FetchAsync(args)).Response);
        }
        await shared.Proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("route").GetString() == "q" && r.GetProperty("status").GetInt32() == 200);
        var metrics = await Scrape.MetricsAsync(shared.Proxy);
        foreach (var (what, text) in new[] { ("answers", string.Join("\n", answers)), ("logs", shared.Proxy.Logs.Text), ("audit", shared.Proxy.Decisions.Text), ("metrics", metrics) })
        {
            foreach (var secret in new[] { ProxyUnderTest.Canary, ApiKey })
            {
                Assert.True(!text.Contains(secret, StringComparison.Ordinal), $"a credential shows in the {what}");
            }
        }
    }
}
