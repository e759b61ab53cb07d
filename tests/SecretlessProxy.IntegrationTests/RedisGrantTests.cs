using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using SecretlessProxy.Redis;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Grants kept in a real redis-server when <c>cache.redis</c> is configured: a grant approved on one replica opens
/// access on the other, survives a restart of either, and a revocation on one closes access on both.
/// </summary>
public sealed class RedisGrantTests : IAsyncLifetime
{
    private const string Runner = "spiffe://example.org/ns/ci/sa/runner";

    private readonly TestPki _pki = new();
    private RedisServer _redis = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_pki.Directory);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "cache.key"), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "deploy.key"), ec.ExportPkcs8PrivateKeyPem());
    }

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        _pki.Dispose();
    }

    /// <summary>With <paramref name="approvals"/>, the rule names an approver (uid 0, the admin socket's caller) and requests expire in 10 minutes.</summary>
    private string Config(Uri upstream, bool approvals = false) =>
        ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: "  deploy-token: { provider: jwt, signingKey: deploy.key, issuer: https://secretless.test, audience: deploy-api }",
            extraPolicies: $"  - name: ci-deploys\n    allow: [\"{Runner}\"]\n    routes: [deploy]\n    requireGrant: true" + (approvals ? "\n    approvers: [{ uid: 0 }]" : ""),
            extraRoutes: "    deploy: { ClusterId: upstream, Match: { Path: \"/deploy/{**rest}\" }, Metadata: { Credential: deploy-token } }")
        + $"\ncache:\n  redis:\n    configuration: \"127.0.0.1:{_redis.Port}\"\n    encryptionKey: cache.key\n    operationTimeout: \"00:00:00.500\"\n"
        + (approvals ? "approvals:\n  requestTtl: 10m\n" : "");

    private Task<ProxyUnderTest> StartReplicaAsync(string name, bool approvals = false) =>
        ProxyUnderTest.StartAsync(_pki, u => Config(u, approvals), configName: name + ".yaml");

    private static async Task WaitForStatusAsync(ProxyUnderTest proxy, HttpClient client, string path, HttpStatusCode expected)
    {
        var last = HttpStatusCode.OK;
        await Eventually.Until(async () =>
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, path));
            last = response.StatusCode;
            return last == expected;
        }, $"{proxy.ProxyUri}{path} answers {(int)expected}", TimeSpan.FromSeconds(30), () => $"it still answers {(int)last}");
    }

    private static Task WaitForRedisAsync(ProxyUnderTest proxy) =>
        Eventually.Until(() => proxy.Host.Services.GetRequiredService<RedisConnection>().IsAvailable, $"the proxy on {proxy.ProxyUri} connects to Redis");

    [Fact]
    public async Task A_grant_approved_on_one_replica_opens_access_on_the_other_and_survives_restarts()
    {
        await using var a = await StartReplicaAsync("replica-a");
        var b = await StartReplicaAsync("replica-b");
        using var runnerA = _pki.Client(_pki.Svid(Runner));
        using var runnerB = _pki.Client(_pki.Svid(Runner));
        foreach (var replica in new[] { a, b })
        {
            await WaitForRedisAsync(replica);
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await runnerB.GetAsync(new Uri(b.ProxyUri, "/deploy/before"))).StatusCode);

        string id;
        using (var adminA = new AdminClient(a))
        {
            var (status, grant) = await adminA.PostAsync("/grants", new { identity = Runner, route = "deploy", duration = "1h", approver = "carol", reason = "CHG-42" });
            Assert.Equal(201, status);
            id = grant.GetProperty("id").GetString()!;
        }

        // Replica B hears of it (pub/sub) and opens access; the grant is in Redis, not in a local file.
        await WaitForStatusAsync(b, runnerB, "/deploy/on-b", HttpStatusCode.OK);
        using (var adminB = new AdminClient(b))
        {
            var (found, kept) = await adminB.GetAsync("/grants/" + id);
            Assert.Equal(200, found);
            Assert.Equal("carol", kept.GetProperty("approver").GetString());
        }
        Assert.Contains(id, await _redis.CliAsync("HKEYS", "secretless:grants"), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_pki.Directory, "grants.json")));

        // B restarts and reads the grant back from Redis.
        await b.DisposeAsync();
        await using var b2 = await StartReplicaAsync("replica-b");
        using var runnerB2 = _pki.Client(_pki.Svid(Runner));
        await WaitForStatusAsync(b2, runnerB2, "/deploy/after-restart", HttpStatusCode.OK);

        // Revoked on the restarted B: A closes access too.
        using (var adminB2 = new AdminClient(b2))
        {
            var (deleted, _) = await adminB2.SendAsync(HttpMethod.Delete, "/grants/" + id);
            Assert.Equal(200, deleted);
        }
        await WaitForStatusAsync(a, runnerA, "/deploy/after-revoke", HttpStatusCode.Forbidden);
        Assert.DoesNotContain(id, await _redis.CliAsync("HKEYS", "secretless:grants"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_made_on_one_replica_is_answered_on_another_once_and_its_grant_opens_access_on_both()
    {
        await using var a = await StartReplicaAsync("requests-a", approvals: true);
        await using var b = await StartReplicaAsync("requests-b", approvals: true);
        using var runnerA = _pki.Client(_pki.Svid(Runner));
        using var runnerB = _pki.Client(_pki.Svid(Runner));
        foreach (var replica in new[] { a, b })
        {
            await WaitForRedisAsync(replica);
        }

        // The workload asks on replica A.
        using var ask = await runnerA.PostAsync(new Uri(a.ProxyUri, "/grants/requests"),
            System.Net.Http.Json.JsonContent.Create(new { route = "deploy", duration = "30m", reason = "CHG-77" }));
        var asked = System.Text.Json.JsonDocument.Parse(await ask.Content.ReadAsStringAsync()).RootElement;
        Assert.True(ask.StatusCode == HttpStatusCode.Created, asked.ToString());
        var id = asked.GetProperty("id").GetString()!;

        // Replica B lists it pending (it heard of it over pub/sub and read the shared hash).
        using var adminA = new AdminClient(a);
        using var adminB = new AdminClient(b);
        var listed = default(System.Text.Json.JsonElement);
        await Eventually.Until(async () =>
        {
            var (status, body) = await adminB.GetAsync("/grants/requests/" + id);
            listed = body;
            return status == 200;
        }, $"replica B lists request {id}", TimeSpan.FromSeconds(30));
        Assert.Equal("pending", listed.GetProperty("status").GetString());
        Assert.Equal(Runner, listed.GetProperty("identity").GetString());

        // Stored sealed: the hash holds the request, but not in plain text.
        Assert.Contains(id, await _redis.CliAsync("HKEYS", "secretless:grant-requests"), StringComparison.Ordinal);
        var stored = await _redis.CliAsync("HGET", "secretless:grant-requests", id);
        Assert.DoesNotContain("CHG-77", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(Runner, stored, StringComparison.Ordinal);

        // Two approvers answer at once, one on each replica: exactly one approval wins, the other finds it closed.
        var answers = await Task.WhenAll(
            adminA.PostAsync($"/grants/requests/{id}/approve", new { note = "from A" }),
            adminB.PostAsync($"/grants/requests/{id}/approve", new { note = "from B" }));
        Assert.Single(answers, x => x.Status == 200);
        var loser = Assert.Single(answers, x => x.Status != 200);
        Assert.True(loser.Status == 409, loser.Body.ToString());
        Assert.Equal("grant_request_closed", loser.Body.GetProperty("reason").GetString());
        var grantId = answers.Single(x => x.Status == 200).Body.GetProperty("grant").GetProperty("id").GetString()!;

        // One grant, in force on both replicas.
        var (_, grants) = await adminA.GetAsync("/grants");
        Assert.Single(grants.GetProperty("grants").EnumerateArray(), g => g.GetProperty("identity").GetString() == Runner);
        await WaitForStatusAsync(a, runnerA, "/deploy/on-a", HttpStatusCode.OK);
        await WaitForStatusAsync(b, runnerB, "/deploy/on-b", HttpStatusCode.OK);

        // Both replicas (and the requester, on either) read it approved with that grant.
        foreach (var admin in new[] { adminA, adminB })
        {
            System.Text.Json.JsonElement seen = default;
            await Eventually.Until(async () =>
            {
                (_, seen) = await admin.GetAsync("/grants/requests/" + id);
                return seen.GetProperty("status").GetString() == "approved";
            }, $"request {id} reads approved on both replicas", TimeSpan.FromSeconds(30), () => seen.ToString());
            Assert.Equal(grantId, seen.GetProperty("grant").GetString());
        }
        using var mine = await runnerB.GetAsync(new Uri(b.ProxyUri, "/grants/requests/" + id));
        Assert.Contains("approved", await mine.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Single(a.Decisions.Events(SecretlessProxy.Audit.AuditEvents.GrantRequestApproved).Concat(b.Decisions.Events(SecretlessProxy.Audit.AuditEvents.GrantRequestApproved)));
    }

    [Fact]
    public async Task A_request_cannot_be_made_while_the_shared_store_is_down()
    {
        await using var proxy = await StartReplicaAsync("requests-down", approvals: true);
        using var runner = _pki.Client(_pki.Svid(Runner));
        await WaitForRedisAsync(proxy);
        await _redis.KillAsync();
        using var ask = await runner.PostAsync(new Uri(proxy.ProxyUri, "/grants/requests"),
            System.Net.Http.Json.JsonContent.Create(new { route = "deploy", duration = "30m", reason = "CHG-78" }));
        var body = await ask.Content.ReadAsStringAsync();
        Assert.True(ask.StatusCode == HttpStatusCode.ServiceUnavailable, body);
        Assert.Contains("grant_store_unavailable", body, StringComparison.Ordinal);
        Assert.Equal("application/problem+json", ask.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_grant_written_into_redis_by_hand_is_never_in_force_and_is_reported()
    {
        await using var proxy = await StartReplicaAsync("replica-forged");
        using var runner = _pki.Client(_pki.Svid(Runner));
        await WaitForRedisAsync(proxy);

        // Someone who can write to Redis adds a grant of their own: valid JSON, even a sensible window.
        var now = DateTimeOffset.UtcNow;
        var forged = System.Text.Json.JsonSerializer.Serialize(new
        {
            id = "g-forged00000001", identity = Runner, route = "deploy", from = now.AddMinutes(-1), until = now.AddDays(30),
            approver = "nobody", reason = "forged", createdAt = now,
        });
        await _redis.CliAsync("HSET", "secretless:grants", "g-forged00000001", forged);
        await _redis.CliAsync("PUBLISH", "secretless:grants", "someone-else");

        var rejected = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "grant.rejected");
        Assert.Equal("g-forged00000001", rejected.GetProperty("grant").GetString());
        Assert.Contains("does not open", rejected.GetProperty("problem").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/forged"))).StatusCode);
        using var admin = new AdminClient(proxy);
        Assert.Equal(404, (await admin.GetAsync("/grants/g-forged00000001")).Status);

        // A grant approved through the API is sealed in Redis (no readable identity or approver) and works.
        var (status, grant) = await admin.PostAsync("/grants", new { identity = Runner, route = "deploy", duration = "1h", approver = "carol", reason = "CHG-7" });
        Assert.Equal(201, status);
        var stored = await _redis.CliAsync("HGET", "secretless:grants", grant.GetProperty("id").GetString()!);
        Assert.StartsWith("v1.", stored.Trim(), StringComparison.Ordinal);
        Assert.DoesNotContain("carol", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(Runner, stored, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await runner.GetAsync(new Uri(proxy.ProxyUri, "/deploy/approved"))).StatusCode);

        // A sealed grant copied to another field does not open either (the field name is bound into the seal).
        await _redis.CliAsync("HSET", "secretless:grants", "g-copied00000001", stored.Trim());
        await _redis.CliAsync("PUBLISH", "secretless:grants", "someone-else");
        var copied = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "grant.rejected" && r.GetProperty("grant").GetString() == "g-copied00000001");
        Assert.Contains("does not open", copied.GetProperty("problem").GetString(), StringComparison.Ordinal);
    }
}
