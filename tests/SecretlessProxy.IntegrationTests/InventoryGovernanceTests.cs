using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using SecretlessProxy.Cli;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Ownership, stores, secret classes, the reconciliation report and usage kept in Redis, end to end: real proxies, a real
/// redis-server, the Vault emulator. One secret value is placed in a file store, a second file and Vault: the
/// duplicated-path finding appears, and the value (a canary) never appears in the inventory, the report, the logs, the
/// audit trail or Redis.
/// </summary>
public sealed class InventoryGovernanceTests : IAsyncLifetime
{
    private const string Canary = "canary-duplicated-5b1e77c2d9a4";
    private const string Alice = "alice@example.org";

    private readonly TestPki _pki = new();
    private RedisServer _redis = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_pki.Directory);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "cache.key"), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "copy-token.txt"), Canary + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "other-token.txt"), "another-value\n");
    }

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        _pki.Dispose();
    }

    /// <summary>The default config (github: a file holding the canary) plus a file store, a Vault store, a class and owners.</summary>
    private string Config(Uri upstream, Uri? vault, bool redis, string flush = "0.2s")
    {
        var vaultStore = vault is null ? "" : $"  vault-dev:\n    type: vault\n    address: {vault}\n    auth: {{ method: jwt, role: proxy, tokenFile: vault-jwt }}\n    owner: {Alice}\n";
        var vaultCredential = vault is null ? "" : "  from-vault: { store: vault-dev, path: payments/api, field: token, owner: alice@example.org, inject: { type: header, name: Authorization, template: \"Bearer {token}\" } }\n";
        var text = ProxyUnderTest.DefaultConfig(upstream,
                extraCredentials:
                    "  copy: { store: files, path: copy-token.txt, owner: bob@example.org, team: payments, inject: { type: header, name: Authorization, template: \"Bearer {token}\" } }\n" +
                    "  restricted: { store: files, path: copy-token.txt, class: ops-only, inject: { type: header, name: Authorization, template: \"Bearer {token}\" } }\n" +
                    "  unused: { store: files, path: other-token.txt, inject: { type: header, name: Authorization, template: \"Bearer {token}\" } }\n" + vaultCredential,
                extraPolicies: "  - name: payments-uses-copies\n    allow: [payments]\n    routes: [copy, restricted" + (vault is null ? "" : ", vault") + "]\n" +
                               "  - name: ghost-rule\n    allow: [\"spiffe://example.org/ns/ghost/sa/never\"]\n    routes: [copy]",
                extraRoutes:
                    "    copy: { ClusterId: upstream, Match: { Path: \"/copy/{**rest}\" }, Metadata: { Credential: copy, Owner: bob@example.org } }\n" +
                    "    restricted: { ClusterId: upstream, Match: { Path: \"/restricted/{**rest}\" }, Metadata: { Credential: restricted } }\n" +
                    "    spare: { ClusterId: upstream, Match: { Path: \"/spare/{**rest}\" }, Metadata: { Credential: unused } }\n" +
                    (vault is null ? "" : "    vault: { ClusterId: upstream, Match: { Path: \"/vault/{**rest}\" }, Metadata: { Credential: from-vault } }\n"))
            .Replace("payments: { spiffeId: spiffe://example.org/ns/payments/sa/api }", $"payments: {{ spiffeId: spiffe://example.org/ns/payments/sa/api, owner: {Alice}, team: payments }}\n  nobody: {{ spiffeId: spiffe://example.org/ns/nobody/sa/x }}", StringComparison.Ordinal);
        text += $"\nstores:\n  files:\n    type: file\n    directory: .\n    team: platform\n{vaultStore}";
        text += "\nclasses:\n  ops-only: { maxTtl: 15m, allow: [\"spiffe://example.org/ns/ops/*\"], owner: ops@example.org }\n";
        text += $"\ninventory:\n  usageFlushInterval: {flush}\n";
        if (redis)
        {
            text += $"\ncache:\n  redis:\n    configuration: \"127.0.0.1:{_redis.Port}\"\n    encryptionKey: cache.key\n    operationTimeout: \"00:00:01\"\n";
        }
        return text;
    }

    private static async Task<string> GetTextAsync(ProxyUnderTest proxy, string path)
    {
        using var http = proxy.AdminSocketClient();
        using var response = await http.GetAsync(new Uri(proxy.AdminUri, path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync();
    }

    private static Dictionary<string, JsonElement> ByName(JsonElement array, string key) =>
        array.EnumerateArray().ToDictionary(e => e.GetProperty(key).GetString()!, StringComparer.Ordinal);

    [Fact]
    public async Task One_value_in_a_file_store_a_second_file_and_vault_is_a_duplicated_path_and_never_shown()
    {
        await using var vault = await VaultEmulator.StartAsync();
        vault.Kv["secret/payments/api"] = [new() { ["token"] = Canary }];
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "vault-jwt"), vault.MintJwt("spiffe://example.org/proxy"));
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, vault.Address, redis: true), token: Canary);
        await Eventually.Until(() => proxy.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "the proxy connects to Redis");
        using var client = proxy.Client();
        foreach (var path in new[] { "/allowed/1", "/copy/1", "/vault/1" })
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, path));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.All(proxy.Upstream.Requests, r => Assert.Equal("Bearer " + Canary, r.Headers["Authorization"]));

        // The class allows only ops workloads: the route's rule allows payments, the class does not, nothing is fetched.
        using (var refused = await client.GetAsync(new Uri(proxy.ProxyUri, "/restricted/1")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("credential_class_not_allowed", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("reason", out var reason) && reason.GetString() == "credential_class_not_allowed");

        using var admin = new AdminClient(proxy);
        var (status, inventory) = await admin.GetAsync("/inventory");
        Assert.Equal(200, status);
        var duplicated = Assert.Single(inventory.GetProperty("duplicatedAccessPaths").EnumerateArray());
        Assert.Equal(["copy", "from-vault", "github"], duplicated.GetProperty("credentials").EnumerateArray().Select(c => c.GetString()));
        var secrets = ByName(inventory.GetProperty("secrets"), "credential");
        Assert.Equal("vault-dev", secrets["from-vault"].GetProperty("store").GetString());
        Assert.Equal("payments/api#token", secrets["from-vault"].GetProperty("path").GetString());
        Assert.Equal("1", secrets["from-vault"].GetProperty("version").GetString());
        Assert.Equal(Alice, secrets["from-vault"].GetProperty("owner").GetString());
        Assert.Equal([TestPki.PaymentsId], secrets["from-vault"].GetProperty("consumers").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(JsonValueKind.String, secrets["from-vault"].GetProperty("lastFetch").ValueKind);
        Assert.Equal("files", secrets["copy"].GetProperty("store").GetString());
        Assert.Equal("bob@example.org", secrets["copy"].GetProperty("owner").GetString());
        Assert.Equal(["from-vault", "github"], secrets["copy"].GetProperty("duplicateOf").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("ops-only", secrets["restricted"].GetProperty("class").GetString());
        Assert.Empty(secrets["restricted"].GetProperty("consumers").EnumerateArray());
        Assert.True(secrets["github"].GetProperty("ageDays").GetDouble() >= 0);
        Assert.Equal("file modification time", secrets["github"].GetProperty("ageSource").GetString());
        Assert.Equal("redis", inventory.GetProperty("usageSource").GetString());
        var mine = ByName(inventory.GetProperty("identities"), "identity")[TestPki.PaymentsId];
        Assert.Equal(Alice, mine.GetProperty("owner").GetString());
        Assert.Equal("payments", mine.GetProperty("team").GetString());

        // By owner: alice owns the identity and the Vault credential and store; bob the copy and its route.
        var (_, byAlice) = await admin.GetAsync("/inventory?owner=" + Uri.EscapeDataString(Alice));
        Assert.Equal(["from-vault"], byAlice.GetProperty("secrets").EnumerateArray().Select(s => s.GetProperty("credential").GetString()));
        Assert.Equal(["payments"], byAlice.GetProperty("owned").GetProperty("identities").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(["vault-dev"], byAlice.GetProperty("owned").GetProperty("stores").EnumerateArray().Select(s => s.GetString()));
        var (_, byBob) = await admin.GetAsync("/inventory?owner=bob@example.org");
        Assert.Equal(["copy"], byBob.GetProperty("owned").GetProperty("routes").EnumerateArray().Select(s => s.GetString()));
        Assert.Empty(byBob.GetProperty("identities").EnumerateArray());

        var (reconcileStatus, report) = await admin.GetAsync("/inventory/reconcile?unusedDays=0");
        Assert.Equal(200, reconcileStatus);
        Assert.Equal("redis", report.GetProperty("usage").GetProperty("source").GetString());
        var findings = report.GetProperty("findings").EnumerateArray().ToList();
        JsonElement Finding(string kind, string subject) => Assert.Single(findings, f => f.GetProperty("kind").GetString() == kind && f.GetProperty("subject").GetString() == subject);
        var dup = Finding("duplicated_secret", "copy = from-vault = github");
        Assert.Contains("files", dup.GetProperty("store").GetString(), StringComparison.Ordinal);
        Assert.Contains("vault-dev", dup.GetProperty("store").GetString(), StringComparison.Ordinal);
        var parallel = Finding("parallel_access_path", $"{TestPki.PaymentsId} -> 127.0.0.1:{proxy.Upstream.Address.Port}");
        Assert.Equal(["copy", "from-vault", "github", "restricted"], parallel.GetProperty("related").EnumerateArray().Select(r => r.GetString()));
        Finding("identity_without_owner", "spiffe://example.org/ns/nobody/sa/x");
        Finding("credential_unused", "unused");
        Finding("credential_not_in_rules", "unused");
        Finding("rule_identity_never_seen", "spiffe://example.org/ns/ghost/sa/never");
        Finding("class_refuses_rule", TestPki.PaymentsId + " -> restricted");
        Finding("class_ttl_unenforceable", "restricted");
        Assert.True(Finding("static_secret", "github").GetProperty("ageDays").GetDouble() >= 0);
        Assert.DoesNotContain(findings, f => f.GetProperty("kind").GetString() == "credential_unused" && f.GetProperty("subject").GetString() is "github" or "copy" or "from-vault");
        Assert.DoesNotContain(findings, f => f.GetProperty("kind").GetString() == "identity_without_owner" && f.GetProperty("subject").GetString() == TestPki.PaymentsId);

        var csv = await GetTextAsync(proxy, "/inventory/reconcile?unusedDays=0&format=csv");
        Assert.StartsWith("kind,subject,identity,credential,", csv, StringComparison.Ordinal);
        Assert.Contains("duplicated_secret,copy = from-vault = github,", csv, StringComparison.Ordinal);
        var table = await GetTextAsync(proxy, "/inventory/reconcile?format=table&owner=bob@example.org");
        Assert.StartsWith("# usage from Redis", table, StringComparison.Ordinal);
        Assert.Contains("duplicated_secret", table, StringComparison.Ordinal);
        Assert.Equal(400, (await admin.GetAsync("/inventory/reconcile?format=xml")).Status);

        // The trail carries the store and version; lifecycle events the store. Never the value.
        var vaultRecord = await proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("credential", out var c) && c.GetString() == "from-vault" && r.GetProperty("kind").GetString() == "decision");
        Assert.Equal("vault-dev", vaultRecord.GetProperty("credentialStore").GetString());
        Assert.Equal("1", vaultRecord.GetProperty("credentialVersion").GetString());
        Assert.Contains(proxy.Decisions.Events("credential.issued"), e => e.GetProperty("credential").GetString() == "from-vault" && e.GetProperty("store").GetString() == "vault-dev");

        var usage = proxy.Host.Services.GetRequiredService<SecretlessProxy.Inventory.UsageStore>();
        Assert.True(await usage.FlushAsync());
        var dump = Encoding.UTF8.GetString(await _redis.DumpAsync());
        var hash = await _redis.CliAsync("HGETALL", "secretless:usage");
        foreach (var (where, text) in new[]
        {
            ("inventory", inventory.GetRawText()), ("by owner", byAlice.GetRawText()), ("reconcile", report.GetRawText()), ("csv", csv), ("table", table),
            ("logs", proxy.Logs.Text), ("audit trail", proxy.Decisions.Text), ("redis dump", dump), ("redis usage hash", hash),
        })
        {
            Assert.DoesNotContain(Canary, text, StringComparison.Ordinal);
            Assert.False(text.Contains(Convert.ToBase64String(Encoding.UTF8.GetBytes(Canary)), StringComparison.Ordinal), where);
        }
        Assert.Contains("c|" + TestPki.PaymentsId + "|github|n", hash, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_vault_lease_id_reaches_the_inventory_the_trail_and_the_revocation_event()
    {
        await using var vault = await VaultEmulator.StartAsync();
        vault.Kv["secret/payments/api"] = [new() { ["token"] = Canary }];
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "vault-jwt"), vault.MintJwt("spiffe://example.org/proxy"));
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, vault.Address, redis: false)
            .Replace("  copy: { store:", "  orders: { store: vault-dev, dynamic: { path: database/creds/orders }, inject: { type: basic } }\n  copy: { store:", StringComparison.Ordinal)
            .Replace("routes: [copy, restricted, vault]", "routes: [copy, restricted, vault, orders]", StringComparison.Ordinal)
            .Replace("    copy: { ClusterId", "    orders: { ClusterId: upstream, Match: { Path: \"/orders/{**rest}\" }, Metadata: { Credential: orders } }\n    copy: { ClusterId", StringComparison.Ordinal), token: Canary);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/orders/1"))).StatusCode);
        var lease = Assert.Single(vault.Issued).Split(' ')[0];

        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision" && r.TryGetProperty("credential", out var c) && c.GetString() == "orders");
        Assert.Equal(lease, record.GetProperty("leaseId").GetString());
        Assert.Equal("vault-dev", record.GetProperty("credentialStore").GetString());
        Assert.Contains(proxy.Decisions.Events("credential.issued"), e => e.GetProperty("credential").GetString() == "orders" && e.GetProperty("leaseId").GetString() == lease);

        using var admin = new AdminClient(proxy);
        var (_, inventory) = await admin.GetAsync("/inventory");
        var orders = ByName(inventory.GetProperty("secrets"), "credential")["orders"];
        Assert.Equal(lease, orders.GetProperty("leaseId").GetString());
        Assert.Equal("vault-dev", orders.GetProperty("store").GetString());
        Assert.False(orders.GetProperty("static").GetBoolean());
        Assert.Equal("memory", inventory.GetProperty("usageSource").GetString());

        Assert.Equal(200, (await admin.PostAsync("/credentials/orders/revoke", new { })).Status);
        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "credential.revoked" && r.GetProperty("credential").GetString() == "orders");
        Assert.Equal([lease], revoked.GetProperty("leaseIds").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal("vault-dev", revoked.GetProperty("store").GetString());
        Assert.DoesNotContain(Canary, proxy.Decisions.Text + proxy.Logs.Text + inventory.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_in_redis_covers_both_replicas_and_survives_a_restart()
    {
        var a = await ProxyUnderTest.StartAsync(_pki, u => Config(u, null, redis: true), token: Canary, configName: "replica-a.yaml");
        var b = await ProxyUnderTest.StartAsync(_pki, u => Config(u, null, redis: true), token: Canary, configName: "replica-b.yaml");
        try
        {
            await Eventually.Until(() => a.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable
                && b.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "both replicas connect to Redis");
            using (var client = a.Client())
            {
                for (var i = 0; i < 3; i++)
                {
                    Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(a.ProxyUri, $"/allowed/{i}"))).StatusCode);
                }
            }
            // Replica B never served a call, yet its report knows A's use (the periodic write, or B's read after A's).
            using var adminB = new AdminClient(b);
            await Eventually.Until(async () =>
            {
                var (_, body) = await adminB.GetAsync("/inventory");
                var github = ByName(body.GetProperty("secrets"), "credential")["github"];
                return github.GetProperty("consumers").EnumerateArray().Any(c => c.GetString() == TestPki.PaymentsId);
            }, "replica B sees replica A's use of github through Redis");
            var (_, report) = await adminB.GetAsync("/inventory/reconcile?unusedDays=0");
            var unused = report.GetProperty("findings").EnumerateArray().Where(f => f.GetProperty("kind").GetString() == "credential_unused").Select(f => f.GetProperty("subject").GetString()).ToList();
            Assert.DoesNotContain("github", unused);
            Assert.Contains("copy", unused);
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }

        // A new process: nothing in memory, usage still there (A wrote what it had when it stopped).
        await using var c = await ProxyUnderTest.StartAsync(_pki, u => Config(u, null, redis: true), token: Canary, configName: "replica-c.yaml");
        await Eventually.Until(() => c.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "the restarted proxy connects to Redis");
        using var adminC = new AdminClient(c);
        var (_, inventory) = await adminC.GetAsync("/inventory");
        var kept = ByName(inventory.GetProperty("secrets"), "credential")["github"];
        Assert.Equal([TestPki.PaymentsId], kept.GetProperty("consumers").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal(JsonValueKind.String, kept.GetProperty("lastUse").ValueKind);
        var (_, after) = await adminC.GetAsync("/inventory/reconcile?unusedDays=0");
        Assert.DoesNotContain(after.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "credential_unused" && f.GetProperty("subject").GetString() == "github");
        Assert.DoesNotContain(after.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "rule_identity_never_seen" && f.GetProperty("subject").GetString() == TestPki.PaymentsId);
        // The count is the sum of what the replicas sent: three calls, once each.
        Assert.Contains("3", await _redis.CliAsync("HGET", "secretless:usage", "c|" + TestPki.PaymentsId + "|github|n"), StringComparison.Ordinal);

        // The CLI reads the same usage from Redis, with no proxy running.
        var path = Path.Combine(_pki.Directory, "replica-c.yaml");
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["inventory", "--config", path, "--reconcile", "--format", "json", "--unused-days", "0"], output, error));
        using var cli = JsonDocument.Parse(output.ToString());
        Assert.Equal("redis", cli.RootElement.GetProperty("usage").GetProperty("source").GetString());
        Assert.DoesNotContain(cli.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "credential_unused" && f.GetProperty("subject").GetString() == "github");
        Assert.Contains(cli.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "duplicated_secret" && f.GetProperty("subject").GetString() == "copy = github = restricted");
        Assert.DoesNotContain(Canary, output.ToString() + error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_cli_reconciles_from_the_config_alone_and_says_usage_is_missing()
    {
        var path = Path.Combine(_pki.Directory, "offline.yaml");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "github-token.txt"), Canary + "\n");
        await File.WriteAllTextAsync(path, Config(new Uri("http://127.0.0.1:1/"), null, redis: false));

        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["inventory", "--config", path, "--reconcile", "--format", "json"], output, error));
        using var json = JsonDocument.Parse(output.ToString());
        Assert.Equal("none", json.RootElement.GetProperty("usage").GetProperty("source").GetString());
        Assert.Contains("need the running proxy", json.RootElement.GetProperty("usage").GetProperty("note").GetString(), StringComparison.Ordinal);
        var kinds = json.RootElement.GetProperty("findings").EnumerateArray().Select(f => (f.GetProperty("kind").GetString(), f.GetProperty("subject").GetString())).ToList();
        Assert.Contains(("duplicated_secret", "copy = github = restricted"), kinds);
        Assert.Contains(("static_secret", "github"), kinds);
        Assert.Contains(("identity_without_owner", "spiffe://example.org/ns/nobody/sa/x"), kinds);
        Assert.Contains(("credential_not_in_rules", "unused"), kinds);
        Assert.DoesNotContain(kinds, k => k.Item1 is "credential_unused" or "rule_identity_never_seen");

        using var table = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["inventory", "--config", path, "--reconcile"], table, TextWriter.Null));
        Assert.StartsWith("# no usage facts", table.ToString(), StringComparison.Ordinal);
        using var csv = new StringWriter();
        using var csvError = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["inventory", "--config", path, "--reconcile", "--format", "csv", "--owner", "bob@example.org"], csv, csvError));
        var rows = csv.ToString().Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("kind,subject,", rows[0], StringComparison.Ordinal);
        Assert.All(rows.Skip(1), r => Assert.Contains("bob@example.org", r, StringComparison.Ordinal));
        Assert.Contains("note: no usage facts", csvError.ToString(), StringComparison.Ordinal);

        using var owned = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["inventory", "--config", path, "--owner", Alice], owned, TextWriter.Null));
        var lines = owned.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("IDENTITY  ", lines[0], StringComparison.Ordinal);
        Assert.All(lines[1..^1], l => Assert.StartsWith("payments (spiffe://example.org/ns/payments/sa/api)", l, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(Alice, StringComparison.Ordinal) && l.EndsWith("copy (file, static)", StringComparison.Ordinal));
        Assert.Equal(2, await CliApp.RunAsync(["inventory", "--config", path, "--format", "xml"], TextWriter.Null, TextWriter.Null));
        Assert.DoesNotContain(Canary, output.ToString() + table + csv + owned, StringComparison.Ordinal);
    }
}
