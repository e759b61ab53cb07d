using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Two proxy replicas sharing one real redis-server as the L2 credential cache, against a real OAuth2 server:
/// one fetch across replicas, encrypted values, revocation on every replica, Redis outages that lose no request,
/// and refresh ahead of expiry.
/// </summary>
public sealed class RedisCacheTests : IAsyncLifetime
{
    private const string ClientSecret = "canary-client-secret-redis-3e88a1";

    private readonly TestPki _pki = new();
    private RedisServer _redis = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync(_pki.Directory);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "client-secret"), ClientSecret);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "cache.key"), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
    }

    public async Task DisposeAsync()
    {
        await _redis.DisposeAsync();
        _pki.Dispose();
    }

    private Task<OidcServer> StartOidcAsync(int tokenTtlSeconds = 300) => OidcServer.StartAsync(_pki.Directory,
    [
        new { client_id = "proxy", client_secret = ClientSecret, grant_types = new[] { "client_credentials" }, redirect_uris = Array.Empty<string>(), response_types = Array.Empty<string>(), token_endpoint_auth_method = "client_secret_basic" },
    ], tokenTtlSeconds);

    private static string Config(Uri upstream, OidcServer oidc, int redisPort, string extraCredentialKeys = "") =>
        ProxyUnderTest.DefaultConfig(upstream, extraCredentials:
                $"  oauth:\n    provider: oauth2-client-credentials\n    tokenUrl: {oidc.TokenUrl}\n    clientId: proxy\n    clientSecretFile: client-secret\n    timeout: \"00:00:02\"\n{extraCredentialKeys}    inject: {{ type: header, name: Authorization, template: \"Bearer {{token}}\" }}")
            .Replace("Metadata: { Credential: github }\n    denied", "Metadata: { Credential: oauth }\n    denied", StringComparison.Ordinal)
        + $"\ncache:\n  redis:\n    configuration: \"127.0.0.1:{redisPort}\"\n    encryptionKey: cache.key\n    operationTimeout: \"00:00:00.500\"\n    lockTimeout: \"00:00:03\"\n";

    private async Task<(ProxyUnderTest A, ProxyUnderTest B)> StartReplicasAsync(OidcServer oidc, int? redisPort = null, string extraCredentialKeys = "")
    {
        var port = redisPort ?? _redis.Port;
        var a = await ProxyUnderTest.StartAsync(_pki, u => Config(u, oidc, port, extraCredentialKeys), configName: "replica-a.yaml");
        var b = await ProxyUnderTest.StartAsync(_pki, u => Config(u, oidc, port, extraCredentialKeys), configName: "replica-b.yaml");
        if (redisPort is null)
        {
            await Eventually.Until(() => a.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable
                && b.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "both replicas connect to Redis");
            // Each replica reads the inventory's shared fingerprint key once it is connected (one GET): wait for it,
            // so tests counting Redis commands count only the ones requests make.
            await Eventually.Until(() => a.Host.Services.GetRequiredService<SecretlessProxy.Inventory.SecretFingerprints>().Source == "redis"
                && b.Host.Services.GetRequiredService<SecretlessProxy.Inventory.SecretFingerprints>().Source == "redis", "both replicas take the fingerprint key from Redis");
        }
        return (a, b);
    }

    private static string[] DataKeys(string scan) => scan
        .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Where(k => !k.EndsWith(":index", StringComparison.Ordinal) && !k.EndsWith(":lock", StringComparison.Ordinal) && !k.EndsWith(":revoked", StringComparison.Ordinal))
        // The inventory's usage hash and its sealed fingerprint key are not cached credentials.
        .Where(k => !k.EndsWith(":usage", StringComparison.Ordinal) && !k.Contains(":inventory:", StringComparison.Ordinal))
        .ToArray();

    private static string Token(ReceivedRequest request) => request.Headers["Authorization"]["Bearer ".Length..];

    [Fact]
    public async Task Two_replicas_fetch_one_token_and_redis_holds_it_only_encrypted()
    {
        await using var oidc = await StartOidcAsync();
        var (a, b) = await StartReplicasAsync(oidc);
        await using var _ = a;
        await using var __ = b;
        using var clientA = a.Client();
        using var clientB = b.Client();

        var calls = Enumerable.Range(0, 100).SelectMany(i => new[]
        {
            clientA.GetAsync(new Uri(a.ProxyUri, $"/allowed/a{i}")),
            clientB.GetAsync(new Uri(b.ProxyUri, $"/allowed/b{i}")),
        });
        var responses = await Task.WhenAll(calls);
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
        var token = Assert.Single(a.Upstream.Requests.Concat(b.Upstream.Requests).Select(Token).Distinct());

        // The dump of the whole dataset holds the entry, but neither the token nor the client secret.
        var keys = await _redis.CliAsync("--scan", "--pattern", "secretless:*");
        Assert.Contains("secretless:{oauth}:", keys, StringComparison.Ordinal);
        var value = await _redis.CliAsync("GET", DataKeys(keys).First());
        Assert.StartsWith("v1.", value, StringComparison.Ordinal);
        var dump = Encoding.Latin1.GetString(await _redis.DumpAsync());
        Assert.Contains("secretless:{oauth}:", dump, StringComparison.Ordinal);
        Assert.DoesNotContain(token, dump, StringComparison.Ordinal);
        Assert.DoesNotContain(ClientSecret, dump, StringComparison.Ordinal);
        foreach (var text in new[] { a.Logs.Text, b.Logs.Text, a.Decisions.Text, b.Decisions.Text })
        {
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(ClientSecret, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_memory_hit_makes_no_redis_round_trip()
    {
        await using var oidc = await StartOidcAsync();
        var (a, b) = await StartReplicasAsync(oidc);
        await using var _ = a;
        await using var __ = b;
        using var client = a.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(a.ProxyUri, "/allowed/warm"))).StatusCode);

        // Redis counts every command it serves: reset, serve 50 requests from memory, read the counts.
        await _redis.CliAsync("CONFIG", "RESETSTAT");
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(a.ProxyUri, $"/allowed/hit-{i}"))).StatusCode);
        }
        var stats = await _redis.CliAsync("INFO", "commandstats");
        Assert.Contains("cmdstat_config|resetstat:calls=1", stats, StringComparison.Ordinal);
        foreach (var command in new[] { "cmdstat_get:", "cmdstat_set:", "cmdstat_sadd:", "cmdstat_del:" })
        {
            Assert.DoesNotContain(command, stats, StringComparison.Ordinal);
        }
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
    }

    [Fact]
    public async Task Revoke_on_one_replica_makes_both_fetch_anew()
    {
        await using var oidc = await StartOidcAsync();
        var (a, b) = await StartReplicasAsync(oidc);
        await using var _ = a;
        await using var __ = b;
        using var clientA = a.Client();
        using var clientB = b.Client();
        Assert.Equal(HttpStatusCode.OK, (await clientA.GetAsync(new Uri(a.ProxyUri, "/allowed/warm-a"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await clientB.GetAsync(new Uri(b.ProxyUri, "/allowed/warm-b"))).StatusCode);
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
        var first = Token(a.Upstream.Requests.Single());
        // The fetch released its lock: a lock left behind would make the next fetch on every replica wait it out.
        Assert.DoesNotContain(":lock", await _redis.CliAsync("--scan", "--pattern", "secretless:*"), StringComparison.Ordinal);

        using var admin = a.AdminSocketClient();
        using var revoked = await admin.PostAsync(new Uri(a.AdminUri, "/credentials/oauth/revoke"), null);
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        await Eventually.Until(() => b.Logs.Text.Contains("revoked by another replica", StringComparison.Ordinal), "replica B hears of the revocation");
        // Lock keys are coordination, not credentials (they expire by themselves); no cached value may remain.
        Assert.Empty(DataKeys(await _redis.CliAsync("--scan", "--pattern", "secretless:*")));

        var responses = await Task.WhenAll(
            clientA.GetAsync(new Uri(a.ProxyUri, "/allowed/after-a")),
            clientB.GetAsync(new Uri(b.ProxyUri, "/allowed/after-b")));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, await oidc.TokensIssuedAsync(2));
        var afterA = Token(a.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/after-a"));
        var afterB = Token(b.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/after-b"));
        Assert.NotEqual(first, afterA);
        Assert.Equal(afterA, afterB);
    }

    [Fact]
    public async Task A_revocation_while_a_fetch_is_in_flight_keeps_its_token_out_of_redis()
    {
        await using var oidc = await StartOidcAsync();
        // A generous per-attempt timeout: the token endpoint is paused while the revocation happens.
        var config = (Uri u) => Config(u, oidc, _redis.Port).Replace("timeout: \"00:00:02\"", "timeout: \"00:00:30\"", StringComparison.Ordinal);
        await using var a = await ProxyUnderTest.StartAsync(_pki, config, configName: "replica-a.yaml");
        await using var b = await ProxyUnderTest.StartAsync(_pki, config, configName: "replica-b.yaml");
        await Eventually.Until(() => a.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable
            && b.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "both replicas connect to Redis");
        using var clientA = a.Client();
        using var clientB = b.Client();

        // The token endpoint stops answering (SIGSTOP: the real server, frozen); A's fetch takes the lock and waits.
        oidc.Pause();
        Task<HttpResponseMessage> inFlight;
        try
        {
            inFlight = clientA.GetAsync(new Uri(a.ProxyUri, "/allowed/in-flight"));
            await Eventually.Until(async () => (await _redis.CliAsync("--scan", "--pattern", "secretless:*")).Contains(":lock", StringComparison.Ordinal), "replica A holds the fetch lock");
            using var admin = b.AdminSocketClient();
            using var revoked = await admin.PostAsync(new Uri(b.AdminUri, "/credentials/oauth/revoke"), null);
            Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        }
        finally
        {
            oidc.Resume();
        }
        using (var response = await inFlight)
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.Equal(1, await oidc.TokensIssuedAsync(1));
        await Eventually.Until(() => a.Logs.Text.Contains("was revoked while it was being fetched", StringComparison.Ordinal), "replica A keeps the token out of Redis");
        Assert.Empty(DataKeys(await _redis.CliAsync("--scan", "--pattern", "secretless:*")));

        // B finds nothing in Redis and fetches a token issued after the revocation.
        Assert.Equal(HttpStatusCode.OK, (await clientB.GetAsync(new Uri(b.ProxyUri, "/allowed/after"))).StatusCode);
        Assert.Equal(2, await oidc.TokensIssuedAsync(2));
        Assert.NotEqual(Token(a.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/in-flight")), Token(b.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/after")));
    }

    [Fact]
    public async Task Redis_killed_mid_run_and_restarted_fails_no_request()
    {
        // Short-lived tokens, so refreshes (and Redis reads and writes) happen during the outage.
        await using var oidc = await StartOidcAsync(tokenTtlSeconds: 4);
        var (a, b) = await StartReplicasAsync(oidc, extraCredentialKeys: "    refreshFraction: 0.5\n");
        await using var _ = a;
        await using var __ = b;
        using var clientA = a.Client();
        using var clientB = b.Client();
        var failures = new List<string>();
        var sent = 0;
        using var stop = new CancellationTokenSource();
        async Task LoopAsync(HttpClient client, ProxyUnderTest proxy, string name)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                using var response = await client.GetAsync(new Uri(proxy.ProxyUri, $"/allowed/{name}{i}"));
                Interlocked.Increment(ref sent);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    var body = await response.Content.ReadAsStringAsync();
                    lock (failures)
                    {
                        failures.Add($"{name}{i}: {(int)response.StatusCode} {body}");
                    }
                }
                await Task.Delay(20);
            }
        }
        var loops = Task.WhenAll(LoopAsync(clientA, a, "a"), LoopAsync(clientB, b, "b"));

        // Before the outage: both replicas serve, and the token they share is in Redis.
        await Eventually.Until(async () => !a.Upstream.Requests.IsEmpty && !b.Upstream.Requests.IsEmpty
            && (await _redis.CliAsync("--scan", "--pattern", "secretless:{oauth}:*")).Contains("shared", StringComparison.Ordinal), "both replicas serve with the token shared in Redis");
        await _redis.KillAsync();
        await Eventually.Until(() => a.Logs.Text.Contains("Redis credential cache unavailable", StringComparison.Ordinal), "replica A notices Redis is gone");
        // Longer than a token lifetime: fresh tokens must come from the provider while Redis is down. The tokens are
        // the real server's and expire in real time, so this is a wait for the outage to last, not for a condition.
        var issuedBeforeRestart = oidc.TokensIssued;
        await Task.Delay(4500);
        Assert.True(oidc.TokensIssued > issuedBeforeRestart, "tokens were refreshed during the outage");
        await _redis.StartAgainAsync();
        await Eventually.Until(() => a.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "replica A reconnects by itself");
        // After the reconnect, refreshed tokens are written to Redis again.
        await Eventually.Until(async () => (await _redis.CliAsync("--scan", "--pattern", "secretless:{oauth}:*")).Contains("shared", StringComparison.Ordinal), "a refreshed token is in Redis again");
        await stop.CancelAsync();
        await loops;

        Assert.True(sent > 50, $"only {sent} requests were sent");
        Assert.Empty(failures);
        Assert.Contains("shared", await _redis.CliAsync("--scan", "--pattern", "secretless:{oauth}:*"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokens_are_refreshed_before_expiry_and_none_arrives_expired()
    {
        await using var oidc = await StartOidcAsync(tokenTtlSeconds: 6);
        var (a, b) = await StartReplicasAsync(oidc, extraCredentialKeys: "    refreshFraction: 0.5\n");
        await using var _ = a;
        await using var __ = b;
        using var clientA = a.Client();
        using var clientB = b.Client();
        var started = DateTimeOffset.UtcNow;
        while (DateTimeOffset.UtcNow - started < TimeSpan.FromSeconds(13))
        {
            var responses = await Task.WhenAll(
                clientA.GetAsync(new Uri(a.ProxyUri, "/allowed/a")),
                clientB.GetAsync(new Uri(b.ProxyUri, "/allowed/b")));
            Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
            await Task.Delay(50);
        }
        var issued = oidc.IssuedTokens;
        var received = a.Upstream.Requests.Concat(b.Upstream.Requests).ToList();
        Assert.All(received, r =>
        {
            Assert.True(issued.TryGetValue(Token(r), out var expiresAt), "the upstream got a token the server never issued");
            Assert.True(r.ReceivedAt < expiresAt, $"a request arrived at {r.ReceivedAt:O} with a token that expired at {expiresAt:O}");
        });
        // Refreshed ahead of expiry (several tokens over two lifetimes), once per refresh across both replicas.
        var distinct = received.Select(Token).Distinct().Count();
        Assert.InRange(distinct, 3, 6);
        Assert.InRange(issued.Count, distinct, 6);
    }

    [Fact]
    public async Task Proxy_starts_and_serves_while_redis_is_down_then_uses_it_once_it_is_up()
    {
        await using var oidc = await StartOidcAsync();
        await _redis.KillAsync();
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, oidc, _redis.Port));
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/down"))).StatusCode);
        await Eventually.Until(() => proxy.Logs.Text.Contains("Redis credential cache unavailable", StringComparison.Ordinal), "the proxy warns that Redis is down");

        await _redis.StartAgainAsync();
        await Eventually.Until(() => proxy.Host.Services.GetRequiredService<SecretlessProxy.Redis.RedisConnection>().IsAvailable, "the proxy reconnects by itself", TimeSpan.FromSeconds(30));
        using var admin = proxy.AdminSocketClient();
        await admin.PostAsync(new Uri(proxy.AdminUri, "/credentials/oauth/revoke"), null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/up"))).StatusCode);
        Assert.Contains("secretless:{oauth}:", await _redis.CliAsync("--scan", "--pattern", "secretless:*"), StringComparison.Ordinal);
    }
}
