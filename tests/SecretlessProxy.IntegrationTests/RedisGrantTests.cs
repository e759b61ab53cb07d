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

    private string Config(Uri upstream) =>
        ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: "  deploy-token: { provider: jwt, signingKey: deploy.key, issuer: https://secretless.test, audience: deploy-api }",
            extraPolicies: $"  - name: ci-deploys\n    allow: [\"{Runner}\"]\n    routes: [deploy]\n    requireGrant: true",
            extraRoutes: "    deploy: { ClusterId: upstream, Match: { Path: \"/deploy/{**rest}\" }, Metadata: { Credential: deploy-token } }")
        + $"\ncache:\n  redis:\n    configuration: \"127.0.0.1:{_redis.Port}\"\n    encryptionKey: cache.key\n    operationTimeout: \"00:00:00.500\"\n";

    private Task<ProxyUnderTest> StartReplicaAsync(string name) => ProxyUnderTest.StartAsync(_pki, Config, configName: name + ".yaml");

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
