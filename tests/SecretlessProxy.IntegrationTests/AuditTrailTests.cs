using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using SecretlessProxy.Audit;
using SecretlessProxy.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The audit trail as an operator reads it: one decision record per request with exact fields, lifecycle events
/// for credentials and config changes, a rotating file sink, and a slow sink that drops instead of blocking.
/// </summary>
public sealed class AuditTrailTests : IDisposable
{
    private readonly TestPki _pki = new();

    private string JwtCredentials()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(Path.Combine(_pki.Directory, "jwt.key"), key.ExportPkcs8PrivateKeyPem());
        // 'minted' refreshes after 10% of its 10 s lifetime; 'brief' (10 s, the shortest a jwt lives) is used once.
        return "  minted: { provider: jwt, signingKey: jwt.key, issuer: https://secretless.test, audience: api, ttl: \"00:00:10\", refreshFraction: 0.1 }\n" +
               "  brief: { provider: jwt, signingKey: jwt.key, issuer: https://secretless.test, audience: api, ttl: \"00:00:10\" }";
    }

    private string Config(Uri upstream, string extraPolicies = "", string extraRoutes = "") => ProxyUnderTest.DefaultConfig(upstream,
        extraCredentials: JwtCredentials(),
        extraPolicies: "  - name: payments-mints\n    allow: [payments]\n    routes: [minted, brief]\n" + extraPolicies,
        extraRoutes:
            "    minted: { ClusterId: upstream, Match: { Path: \"/minted/{**rest}\" }, Metadata: { Credential: minted } }\n" +
            "    brief: { ClusterId: upstream, Match: { Path: \"/brief/{**rest}\" }, Metadata: { Credential: brief } }\n" + extraRoutes);

    private static async Task<JsonElement> CallAsync(ProxyUnderTest proxy, HttpClient client, string path, HttpStatusCode expected)
    {
        using var request = TraceParent.Get(new Uri(proxy.ProxyUri, path), out var traceId);
        using var response = await client.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        return await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.GetProperty("traceId").GetString() == traceId);
    }

    private static IEnumerable<string> Names(JsonElement record) => record.EnumerateObject().Select(p => p.Name);

    [Fact]
    public async Task Allowed_and_denied_calls_are_recorded_with_exact_fields_and_the_path_template()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        using var client = proxy.Client();

        var allow = await CallAsync(proxy, client, "/allowed/orders/12345?account=acct-99887", HttpStatusCode.OK);
        Assert.Equal(
            ["time", "kind", "requestId", "traceId", "listener", "identity", "attestation", "route", "method", "pathTemplate", "rule", "outcome", "reason",
             "credential", "credentialProvider", "credentialStore", "credentialStatic", "credentialSource", "credentialExpiresAt", "status", "upstreamStatus", "upstreamLatencyMs", "durationMs"],
            Names(allow));
        Assert.Equal("mtls", allow.GetProperty("listener").GetString());
        Assert.Equal(TestPki.PaymentsId, allow.GetProperty("identity").GetString());
        Assert.Equal("x509-svid", allow.GetProperty("attestation").GetString());
        Assert.Equal("allowed", allow.GetProperty("route").GetString());
        Assert.Equal("GET", allow.GetProperty("method").GetString());
        Assert.Equal("/allowed/{**rest}", allow.GetProperty("pathTemplate").GetString());
        Assert.Equal("payments-uses-allowed", allow.GetProperty("rule").GetString());
        Assert.Equal("allow", allow.GetProperty("outcome").GetString());
        Assert.Equal("allowed", allow.GetProperty("reason").GetString());
        Assert.Equal("github", allow.GetProperty("credential").GetString());
        Assert.Equal("file", allow.GetProperty("credentialProvider").GetString());
        Assert.True(allow.GetProperty("credentialStatic").GetBoolean());
        Assert.Equal("store", allow.GetProperty("credentialSource").GetString());
        Assert.Equal(JsonValueKind.Null, allow.GetProperty("credentialExpiresAt").ValueKind);
        Assert.Equal(200, allow.GetProperty("status").GetInt32());
        Assert.Equal(200, allow.GetProperty("upstreamStatus").GetInt32());
        Assert.True(allow.GetProperty("upstreamLatencyMs").GetDouble() >= 0);
        Assert.True(allow.GetProperty("durationMs").GetDouble() >= allow.GetProperty("upstreamLatencyMs").GetDouble());
        // Neither the concrete path nor the query reaches the audit trail.
        Assert.DoesNotContain("12345", proxy.Decisions.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("acct-99887", proxy.Decisions.Text, StringComparison.Ordinal);

        var deny = await CallAsync(proxy, client, "/denied/x", HttpStatusCode.Forbidden);
        Assert.Equal(
            ["time", "kind", "requestId", "traceId", "listener", "identity", "attestation", "route", "method", "pathTemplate", "rule", "outcome", "reason", "credential", "status", "durationMs"],
            Names(deny));
        Assert.Equal("deny", deny.GetProperty("outcome").GetString());
        Assert.Equal("no_rule_matched", deny.GetProperty("reason").GetString());
        Assert.Equal(JsonValueKind.Null, deny.GetProperty("rule").ValueKind);
        Assert.Equal(JsonValueKind.Null, deny.GetProperty("credential").ValueKind);
        Assert.Equal("/denied/{**rest}", deny.GetProperty("pathTemplate").GetString());
        Assert.Equal(403, deny.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task Minted_credentials_are_issued_served_from_memory_refreshed_revoked_and_expire_unused()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        using var client = proxy.Client();

        await CallAsync(proxy, client, "/brief/once", HttpStatusCode.OK);
        var first = await CallAsync(proxy, client, "/minted/a", HttpStatusCode.OK);
        Assert.Equal("fresh", first.GetProperty("credentialSource").GetString());
        Assert.Equal("jwt", first.GetProperty("credentialProvider").GetString());
        Assert.False(first.GetProperty("credentialStatic").GetBoolean());
        var expiresAt = first.GetProperty("credentialExpiresAt").GetDateTimeOffset();
        Assert.InRange(expiresAt - first.GetProperty("time").GetDateTimeOffset(), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(11));
        var issued = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialIssued && r.GetProperty("credential").GetString() == "minted");
        Assert.Equal(["time", "kind", "credential", "provider", "store", "workload", "static", "expiresAt", "leaseId", "version", "latencyMs"], Names(issued));
        Assert.Equal("jwt", issued.GetProperty("provider").GetString());
        Assert.Equal(TestPki.PaymentsId, issued.GetProperty("workload").GetString());
        Assert.False(issued.GetProperty("static").GetBoolean());
        Assert.Equal(expiresAt, issued.GetProperty("expiresAt").GetDateTimeOffset());

        var second = await CallAsync(proxy, client, "/minted/b", HttpStatusCode.OK);
        Assert.Equal("l1", second.GetProperty("credentialSource").GetString());
        Assert.Equal(expiresAt, second.GetProperty("credentialExpiresAt").GetDateTimeOffset());

        // Past the refresh point (10% of 10 s) a call is served from memory and triggers a background refresh.
        JsonElement refreshed = default;
        var i = 0;
        await Eventually.Until(async () =>
        {
            await CallAsync(proxy, client, $"/minted/r{i++}", HttpStatusCode.OK);
            refreshed = proxy.Decisions.Events(AuditEvents.CredentialRefreshed).FirstOrDefault(r => r.GetProperty("credential").GetString() == "minted");
            return refreshed.ValueKind != JsonValueKind.Undefined;
        }, "a call past the refresh point refreshes 'minted'");
        Assert.Equal(JsonValueKind.Object, refreshed.ValueKind);
        Assert.Equal(TestPki.PaymentsId, refreshed.GetProperty("workload").GetString());
        Assert.True(refreshed.GetProperty("expiresAt").GetDateTimeOffset() > expiresAt);

        using var admin = proxy.AdminSocketClient();
        using (var revoke = await admin.PostAsync(new Uri(proxy.AdminUri, "/credentials/minted/revoke"), null))
        {
            Assert.Equal(HttpStatusCode.OK, revoke.StatusCode);
        }
        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialRevoked);
        Assert.Equal(["time", "kind", "credential", "provider", "store", "workload", "wasCached", "leaseIds"], Names(revoked));
        Assert.Equal("minted", revoked.GetProperty("credential").GetString());
        Assert.Equal(JsonValueKind.Null, revoked.GetProperty("workload").ValueKind);
        Assert.True(revoked.GetProperty("wasCached").GetBoolean());
        Assert.Equal("fresh", (await CallAsync(proxy, client, "/minted/after-revoke", HttpStatusCode.OK)).GetProperty("credentialSource").GetString());

        // Nobody called 'brief' again, so its expiry is reported as unused.
        var expired = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.CredentialExpiredUnused);
        Assert.Equal(["time", "kind", "credential", "provider", "store", "workload", "issuedAt", "expiresAt"], Names(expired));
        Assert.Equal("brief", expired.GetProperty("credential").GetString());
        Assert.Equal(TestPki.PaymentsId, expired.GetProperty("workload").GetString());
        Assert.InRange(expired.GetProperty("expiresAt").GetDateTimeOffset() - expired.GetProperty("issuedAt").GetDateTimeOffset(), TimeSpan.FromSeconds(9), TimeSpan.FromSeconds(11));
    }

    [Fact]
    public async Task Config_load_reload_and_refusal_are_audited_with_what_changed_and_the_errors()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u));
        var loaded = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.ConfigLoaded);
        Assert.Equal(1, loaded.GetProperty("generation").GetInt64());
        Assert.Equal(proxy.ConfigPath, loaded.GetProperty("file").GetString());

        var edited = Config(proxy.Upstream.Address,
            extraPolicies: "  - name: payments-reports\n    allow: [payments]\n    routes: [reports]\n",
            extraRoutes: "    reports: { ClusterId: upstream, Match: { Path: \"/reports/{**rest}\" } }\n")
            .Replace("routes: [minted, brief]", "routes: [minted]", StringComparison.Ordinal);
        Assert.True(await proxy.RewriteConfigAsync(edited));
        var reloaded = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.ConfigReloaded);
        Assert.Equal(2, reloaded.GetProperty("generation").GetInt64());
        Assert.Equal(
            """{"policies":{"added":["payments-reports"],"changed":["payments-mints"]},"routes":{"added":["reports"]}}""",
            reloaded.GetProperty("changes").GetRawText());

        Assert.False(await proxy.RewriteConfigAsync(edited.Replace("routes: [reports]", "routes: [reprots]\n    methodz: [GET]", StringComparison.Ordinal)));
        var refused = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == AuditEvents.ConfigRefused);
        Assert.Equal(2, refused.GetProperty("errorCount").GetInt32());
        var errors = refused.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(errors, e => e.Contains("policies[2].routes[0]: names route 'reprots'", StringComparison.Ordinal) && e.Contains("did you mean 'reports'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("policies[2].methodz: 'methodz' is not a key of a policy rule", StringComparison.Ordinal));
    }

    [Fact]
    public async Task File_sink_rotates_by_size_and_keeps_the_configured_number_of_files()
    {
        var log = Path.Combine(_pki.Directory, "audit.jsonl");
        string Rotating(Uri u) => Config(u) + "\ndecisionLog: { sink: file, path: audit.jsonl, maxFileSize: 2KiB, maxFiles: 2 }\n";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Rotating);
        using var client = proxy.Client();
        for (var i = 0; i < 40; i++)
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, $"/allowed/{i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var written = proxy.Host.Services.GetRequiredService<DecisionLog>();
        await Eventually.Until(() => written.Written >= 41, "every record is written", lastSeen: () => $"{written.Written} written");
        Assert.True(File.Exists(log) && File.Exists(log + ".1") && File.Exists(log + ".2"));
        Assert.False(File.Exists(log + ".3"));
        foreach (var file in new[] { log, log + ".1", log + ".2" })
        {
            Assert.InRange(new FileInfo(file).Length, 1, 2048);
            foreach (var line in File.ReadAllLines(file))
            {
                using var parsed = JsonDocument.Parse(line);
                Assert.True(parsed.RootElement.TryGetProperty("kind", out _));
            }
        }
        Assert.Empty(proxy.Decisions.Text);
    }

    [Fact]
    public async Task A_stalled_sink_drops_and_counts_records_and_requests_still_complete()
    {
        using var stalled = new StalledStream();
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u) + "\ndecisionLog: { sink: stdout, queueCapacity: 5 }\n", decisionOutput: stalled);
        var log = proxy.Host.Services.GetRequiredService<DecisionLog>();
        using var client = proxy.Client();
        // The writer is stuck in the sink: the queue fills after a handful of records, the rest are dropped.
        for (var i = 0; i < 30; i++)
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, $"/allowed/{i}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.True(stalled.Entered.Wait(TimeSpan.FromSeconds(10)));
        Assert.True(log.Dropped >= 20, $"dropped {log.Dropped}");
        Assert.InRange(log.Queued, 0, 5);
        stalled.Release();
    }

    public void Dispose() => _pki.Dispose();

    /// <summary>A sink that blocks its writer until released.</summary>
    private sealed class StalledStream : Stream
    {
        private readonly ManualResetEventSlim _release = new();

        public ManualResetEventSlim Entered { get; } = new();

        public void Release() => _release.Set();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Entered.Set();
            _release.Wait();
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write([], 0, 0);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            _release.Set();
            if (disposing)
            {
                _release.Dispose();
                Entered.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
