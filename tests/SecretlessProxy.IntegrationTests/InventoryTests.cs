using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using SecretlessProxy.Cli;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>The inventory after a real sequence of calls, and the policy-only table the CLI prints.</summary>
public sealed class InventoryTests : IDisposable
{
    private const string Billing = "spiffe://example.org/ns/billing/sa/worker";

    private readonly TestPki _pki = new();

    private string Config(Uri upstream)
    {
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        {
            File.WriteAllText(Path.Combine(_pki.Directory, "jwt.key"), key.ExportPkcs8PrivateKeyPem());
        }
        return ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: "  minted: { provider: jwt, signingKey: jwt.key, issuer: https://secretless.test, audience: api, ttl: \"00:05:00\" }",
            extraPolicies:
                "  - name: payments-mints\n    allow: [payments]\n    routes: [minted]\n    methods: [GET]\n" +
                "  - name: ci-never-calls\n    allow: [\"spiffe://example.org/ns/ci/*\"]\n    routes: [minted]\n    requireGrant: true",
            extraRoutes: "    minted: { ClusterId: upstream, Match: { Path: \"/minted/{**rest}\" }, Metadata: { Credential: minted } }");
    }

    [Fact]
    public async Task Inventory_reflects_a_real_sequence_of_calls()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, Config);
        using var payments = proxy.Client();
        using var billing = _pki.Client(_pki.Svid(Billing));
        Assert.Equal(HttpStatusCode.OK, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/allowed/1"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/allowed/2"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/minted/1"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await payments.GetAsync(new Uri(proxy.ProxyUri, "/denied/1"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await billing.GetAsync(new Uri(proxy.ProxyUri, "/allowed/1"))).StatusCode);
        await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("identity").GetString() == Billing);

        using var admin = new AdminClient(proxy);
        var (status, inventory) = await admin.GetAsync("/inventory?staleDays=0");
        Assert.Equal(200, status);
        var identities = inventory.GetProperty("identities").EnumerateArray().ToDictionary(i => i.GetProperty("identity").GetString()!);

        var mine = identities[TestPki.PaymentsId];
        Assert.Equal("payments", mine.GetProperty("name").GetString());
        Assert.Equal(3, mine.GetProperty("allowed").GetInt64());
        Assert.Equal(1, mine.GetProperty("denied").GetInt64());
        var mayUse = mine.GetProperty("mayUse").EnumerateArray().ToDictionary(r => r.GetProperty("route").GetString()!);
        Assert.Equal(["allowed", "minted"], mayUse.Keys.Order());
        Assert.Equal("GET", mayUse["minted"].GetProperty("methods").GetString());
        Assert.True(mayUse["minted"].GetProperty("usableNow").GetBoolean());
        var used = mine.GetProperty("used").EnumerateArray().ToDictionary(r => r.GetProperty("route").GetString()!);
        Assert.Equal(2, used["allowed"].GetProperty("allowed").GetInt64());
        Assert.Equal(1, used["minted"].GetProperty("allowed").GetInt64());
        Assert.Equal(1, used["denied"].GetProperty("denied").GetInt64());
        Assert.True(used["allowed"].GetProperty("firstUse").GetDateTimeOffset() <= used["allowed"].GetProperty("lastUse").GetDateTimeOffset());
        var credentials = mine.GetProperty("credentials").EnumerateArray().ToDictionary(c => c.GetProperty("credential").GetString()!);
        Assert.True(credentials["github"].GetProperty("static").GetBoolean());
        Assert.Equal(2, credentials["github"].GetProperty("requests").GetInt64());
        Assert.Equal(JsonValueKind.Null, credentials["github"].GetProperty("ttlSeconds").ValueKind);
        Assert.False(credentials["minted"].GetProperty("static").GetBoolean());
        Assert.Equal("fresh", credentials["minted"].GetProperty("lastSource").GetString());
        Assert.InRange(credentials["minted"].GetProperty("ttlSeconds").GetDouble(), 200, 300);

        // The ci pattern may use 'minted' only with a grant and never called.
        Assert.Contains(inventory.GetProperty("patterns").EnumerateArray(), p => p.GetProperty("rule").GetString() == "ci-never-calls" && p.GetProperty("requiresGrant").GetBoolean());
        var staticInUse = Assert.Single(inventory.GetProperty("staticCredentialsInUse").EnumerateArray());
        Assert.Equal("github", staticInUse.GetProperty("credential").GetString());
        Assert.Equal("file", staticInUse.GetProperty("provider").GetString());
        Assert.Equal([TestPki.PaymentsId], staticInUse.GetProperty("identities").EnumerateArray().Select(e => e.GetString()));
        var stale = inventory.GetProperty("staleAllowRules").EnumerateArray().ToDictionary(r => r.GetProperty("rule").GetString()!);
        Assert.Equal(JsonValueKind.Null, stale["ci-never-calls"].GetProperty("lastUsed").ValueKind);
        var denied = inventory.GetProperty("deniedIdentities").EnumerateArray().ToDictionary(d => d.GetProperty("identity").GetString()!);
        Assert.Equal(1, denied[Billing].GetProperty("denied").GetInt64());
        Assert.Equal(0, denied[Billing].GetProperty("allowed").GetInt64());
        Assert.Equal("no_rule_matched", denied[Billing].GetProperty("lastReason").GetString());
        Assert.Equal(["allowed"], denied[Billing].GetProperty("routes").EnumerateArray().Select(e => e.GetString()));

        // With the default 30 days nothing is stale yet: the proxy has tracked use for seconds only.
        Assert.Empty((await admin.GetAsync("/inventory")).Body.GetProperty("staleAllowRules").EnumerateArray());
    }

    [Fact]
    public async Task Cli_prints_the_policy_derived_inventory_as_a_table_without_a_proxy()
    {
        var path = Path.Combine(_pki.Directory, "inventory.yaml");
        await File.WriteAllTextAsync(path, Config(new Uri("http://127.0.0.1:1/")));
        using var output = new StringWriter();
        using var error = new StringWriter();
        Assert.Equal(0, await CliApp.RunAsync(["inventory", "--config", path], output, error));
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("IDENTITY", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("payments (spiffe://example.org/ns/payments/sa/api)", StringComparison.Ordinal)
            && l.Contains(" allowed ", StringComparison.Ordinal) && l.Contains("payments-uses-allowed", StringComparison.Ordinal) && l.EndsWith("github (file, static)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("spiffe://example.org/ns/ci/*", StringComparison.Ordinal) && l.Contains("required", StringComparison.Ordinal) && l.EndsWith("minted (jwt)", StringComparison.Ordinal));
        Assert.Equal("3 access path(s); 1 use a static credential; 1 need a grant", lines[^1].Trim());

        await File.WriteAllTextAsync(path, Config(new Uri("http://127.0.0.1:1/")).Replace("routes: [minted]\n    methods", "routes: [mintd]\n    methods", StringComparison.Ordinal));
        using var failedOut = new StringWriter();
        using var failedErr = new StringWriter();
        Assert.Equal(1, await CliApp.RunAsync(["inventory", "--config", path], failedOut, failedErr));
        Assert.Contains("names route 'mintd'", failedErr.ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
