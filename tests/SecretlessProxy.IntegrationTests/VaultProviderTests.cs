using System.Diagnostics;
using System.Net;
using System.Text.Json;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// <c>provider: vault</c> through the proxy against the Vault emulator (<see cref="VaultEmulator"/>), and the
/// emulator itself checked with node-vault in the same run.
/// </summary>
public sealed class VaultProviderTests : IDisposable
{
    private const string KvCanary = "canary-vault-kv-3e81c0a9f2";
    private readonly TestPki _pki = new();

    private static string Config(Uri upstream, Uri vault, string credential) =>
        ProxyUnderTest.DefaultConfig(upstream, extraCredentials: credential)
            .Replace("Metadata: { Credential: github }", "Metadata: { Credential: from-vault }", StringComparison.Ordinal);

    [Fact]
    public async Task Node_vault_client_agrees_with_the_emulator()
    {
        await using var vault = await VaultEmulator.StartAsync();
        vault.Kv["secret/payments/api"] = [new() { ["token"] = "v1-value" }, new() { ["token"] = "v2-value" }];
        var dir = Path.Combine(RepoRoot(), "tests", "SecretlessProxy.IntegrationTests", "vault");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "node-vault")), $"node-vault is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        var start = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "client-check.mjs", vault.Address.ToString().TrimEnd('/'), vault.KubernetesToken, vault.MintJwt("spiffe://example.org/proxy") })
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(process.ExitCode == 0, await error);
        var seen = JsonDocument.Parse(await output).RootElement;
        Assert.True(seen.GetProperty("kubernetesToken").GetBoolean());
        Assert.True(seen.GetProperty("jwtLogin").GetBoolean());
        Assert.Equal("v2-value", seen.GetProperty("kvField").GetString());
        Assert.Equal(2, seen.GetProperty("kvVersion").GetInt32());
        Assert.Equal("v1-value", seen.GetProperty("kvPinned").GetString());
        Assert.Equal(600, seen.GetProperty("renewSelfTtl").GetInt32());
        Assert.Equal(600, seen.GetProperty("leaseRenewedTtl").GetInt32());
        Assert.Equal(403, seen.GetProperty("anonymous").GetInt32());
        Assert.Equal(403, seen.GetProperty("forgedJwt").GetInt32());
        Assert.Equal(["kubernetes:proxy", "jwt:proxy"], vault.Logins);
        Assert.Single(vault.LeaseRenewals);
        Assert.Equal(seen.GetProperty("revokedLease").GetString(), Assert.Single(vault.Revoked));
        Assert.Contains("team-a", vault.Namespaces);
    }

    [Fact]
    public async Task A_kv_field_is_injected_after_a_jwt_login_and_never_leaks()
    {
        await using var vault = await VaultEmulator.StartAsync();
        vault.Kv["secret/payments/api"] = [new() { ["token"] = "old-value" }, new() { ["token"] = KvCanary }];
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "vault-jwt"), vault.MintJwt("spiffe://example.org/proxy"));
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, vault.Address, $$"""
              from-vault:
                provider: vault
                address: {{vault.Address}}
                namespace: team-a
                auth: { method: jwt, role: proxy, tokenFile: vault-jwt }
                kv: { mount: secret, path: payments/api, field: token }
                inject: { type: header, name: Authorization, template: "Bearer {token}" }
            """));
        using var client = proxy.Client();
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        Assert.All(proxy.Upstream.Requests, r => Assert.Equal("Bearer " + KvCanary, r.Headers["Authorization"]));
        Assert.Equal(["jwt:proxy"], vault.Logins);
        Assert.All(vault.Namespaces, n => Assert.Equal("team-a", n));

        // A revoked Vault token answers 403: the proxy logs in again (the KV value is re-read after refreshInterval).
        vault.RevokeAllTokens();
        using var admin = new AdminClient(proxy);
        Assert.Equal(200, (await admin.PostAsync("/credentials/from-vault/revoke", new { })).Status);
        using (var again = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x")))
        {
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        Assert.Equal(["jwt:proxy", "jwt:proxy"], vault.Logins);

        using var metrics = new HttpClient();
        var scraped = await metrics.GetStringAsync(new Uri(proxy.AdminUri, "/metrics"));
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text, scraped })
        {
            Assert.DoesNotContain(KvCanary, text, StringComparison.Ordinal);
            Assert.DoesNotContain("hvs.", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_dynamic_secret_lease_is_renewed_and_revoked_on_the_admin_api()
    {
        await using var vault = await VaultEmulator.StartAsync();
        vault.LeaseTtl = TimeSpan.FromSeconds(3);
        vault.TokenTtl = TimeSpan.FromSeconds(3);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "sa-token"), vault.KubernetesToken);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, vault.Address, $$"""
              from-vault:
                provider: vault
                address: {{vault.Address}}
                auth: { method: kubernetes, role: proxy, tokenFile: sa-token }
                dynamic: { path: database/creds/orders }
                inject: { type: basic }
            """));
        using var client = proxy.Client();
        await Eventually.Until(async () =>
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return !vault.LeaseRenewals.IsEmpty && !vault.TokenRenewals.IsEmpty;
        }, "the proxy renews the lease and its Vault token", lastSeen: () => proxy.Logs.Text);
        var issued = Assert.Single(vault.Issued).Split(' ');
        Assert.Equal(issued[0], vault.LeaseRenewals.First());
        var basic = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(issued[1] + ":" + issued[2]));
        Assert.All(proxy.Upstream.Requests, r => Assert.Equal(basic, r.Headers["Authorization"]));

        using var admin = new AdminClient(proxy);
        Assert.Equal(200, (await admin.PostAsync("/credentials/from-vault/revoke", new { })).Status);
        await Eventually.Until(() => vault.Revoked.Contains(issued[0]), "the lease is revoked in Vault", lastSeen: () => proxy.Logs.Text);
        var revoked = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == SecretlessProxy.Audit.AuditEvents.CredentialRevokedAtIssuer);
        Assert.Equal("lease " + issued[0], revoked.GetProperty("item").GetString());
        Assert.Contains("sys/leases/revoke", revoked.GetProperty("issuer").GetString(), StringComparison.Ordinal);
        foreach (var text in new[] { proxy.Logs.Text, proxy.Decisions.Text })
        {
            Assert.DoesNotContain(issued[2], text, StringComparison.Ordinal);
        }
        Assert.Contains(issued[0], proxy.Logs.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Vault_down_with_nothing_cached_answers_503()
    {
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "sa-token"), "sa-token-canary-71d2");
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, new Uri("http://127.0.0.1:1/"), """
              from-vault:
                provider: vault
                address: http://127.0.0.1:1
                timeout: "00:00:01"
                auth: { method: kubernetes, role: proxy, tokenFile: sa-token }
                kv: { path: payments/api, field: token }
            """));
        using var client = proxy.Client();
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/x"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("credential_issuer_unavailable", JsonDocument.Parse(body).RootElement.GetProperty("reason").GetString());
        Assert.Contains("Vault at", body, StringComparison.Ordinal);
        Assert.Empty(proxy.Upstream.Requests);
        Assert.DoesNotContain("sa-token-canary-71d2", body + proxy.Logs.Text, StringComparison.Ordinal);
    }

    private static string RepoRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        return root.FullName;
    }

    public void Dispose() => _pki.Dispose();
}
