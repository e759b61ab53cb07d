using System.Net;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;
using SecretlessProxy.Inventory;

namespace SecretlessProxy.Tests.Configuration;

/// <summary><c>stores</c>, <c>classes</c>, <c>owner</c>/<c>team</c> as the compiler reads them, and the reconcile report from the config alone.</summary>
public sealed class StoresAndClassesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-stores-").FullName;

    public StoresAndClassesTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
        Directory.CreateDirectory(Path.Combine(_dir, "secrets"));
        File.WriteAllText(Path.Combine(_dir, "secrets", "token.txt"), "t");
    }

    private const string Yaml = """
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
        identities:
          api: { spiffeId: spiffe://example.org/ns/payments/sa/api, owner: alice@example.org, team: payments }
          cron: { spiffeId: spiffe://example.org/ns/reports/sa/cron }
        stores:
          vault-prod:
            type: vault
            address: https://vault.example.org:8200
            auth: { method: kubernetes, role: proxy }
            kvMount: kv
            owner: platform@example.org
          files:
            type: file
            directory: secrets
          spare:
            type: file
            directory: secrets
        classes:
          payments: { maxTtl: 15m, allow: [api], owner: alice@example.org }
        credentials:
          from-vault: { store: vault-prod, path: payments/billing, field: token, class: payments, maxTtl: "01:00:00", owner: alice@example.org }
          from-file: { store: files, path: token.txt, team: reports }
          inline: { provider: file, path: secrets/token.txt }
        policies:
          - name: api-calls
            allow: [api]
            routes: [billing, files]
          - name: cron-calls
            allow: [cron]
            routes: [files]
        ReverseProxy:
          Routes:
            billing: { ClusterId: c, Match: { Path: "/billing/{**rest}" }, Metadata: { Credential: from-vault, Owner: alice@example.org, Team: payments } }
            files: { ClusterId: c, Match: { Path: "/files/{**rest}" }, Metadata: { Credential: from-file } }
            spare: { ClusterId: c, Match: { Path: "/spare/{**rest}" }, Metadata: { Credential: inline } }
          Clusters:
            c: { Destinations: { d: { Address: "https://api.example.com/" } } }
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        var result = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
        result.Config?.Dispose();
        return result;
    }

    [Fact]
    public async Task A_store_is_written_once_and_its_credentials_get_its_provider_settings_class_and_owner()
    {
        var result = await CompileAsync(Yaml);
        Assert.Empty(result.Errors);
        var config = result.Config!;
        var vault = config.Credentials["from-vault"];
        Assert.Equal("vault", vault.ProviderName);
        Assert.Equal("vault-prod", vault.Store);
        Assert.True(vault.StoreIsNamed);
        Assert.Equal("payments/billing#token", vault.StorePath);
        Assert.Equal("payments", vault.Class!.Name);
        Assert.Equal(TimeSpan.FromMinutes(15), vault.MaxTtl);
        Assert.Equal("alice@example.org", vault.Owner);
        var file = config.Credentials["from-file"];
        Assert.Equal("file", file.ProviderName);
        Assert.Equal(Path.Combine(_dir, "secrets", "token.txt"), file.SourceFile);
        Assert.Equal("reports", file.Team);
        Assert.Equal("inline:file", config.Credentials["inline"].Store);
        Assert.Equal("alice@example.org", config.OwnerOfIdentity("spiffe://example.org/ns/payments/sa/api").Owner);
        Assert.Equal("payments", config.RouteOwners["billing"].Team);
        Assert.Equal("platform@example.org", config.Stores["vault-prod"].Owner);
        Assert.Contains(result.Warnings, w => w.KeyPath == "stores.spare" && w.Message.Contains("no credential uses", StringComparison.Ordinal));
        // GET /config shows the store's settings on the credential, and the host's own keys.
        Assert.Contains("\"address\": \"https://vault.example.org:8200\"", config.EffectiveConfig, StringComparison.Ordinal);
        Assert.Contains("\"store\": \"vault-prod\"", config.EffectiveConfig, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_mistakes_are_errors_at_the_lines_written()
    {
        var broken = Yaml
            .Replace("address: https://vault.example.org:8200", "address: ftp://vault", StringComparison.Ordinal)
            .Replace("from-file: { store: files, path: token.txt, team: reports }", "from-file: { store: filez, path: token.txt, team: reports }\n  twice: { store: vault-prod, address: https://other:8200, path: a, field: b }\n  both: { store: files, provider: file, path: x }\n  escape: { store: files, path: ../etc/passwd }\n  classless: { store: files, path: token.txt, class: nope }", StringComparison.Ordinal)
            .Replace("owner: platform@example.org", "owner: " + new string('x', 200), StringComparison.Ordinal);
        var result = await CompileAsync(broken);
        Assert.Null(result.Config);
        var text = string.Join("\n", result.Errors);
        Assert.Contains("credentials.from-file.store: 'filez' is not a store under 'stores'", text, StringComparison.Ordinal);
        Assert.Contains("did you mean 'files'?", text, StringComparison.Ordinal);
        Assert.Contains("credentials.twice.address: is set by store 'vault-prod'", text, StringComparison.Ordinal);
        Assert.Contains("credentials.both.provider: and 'store' are both given", text, StringComparison.Ordinal);
        Assert.Contains("credentials.escape.path: must be a plain relative path", text, StringComparison.Ordinal);
        Assert.Contains("credentials.classless.class: 'nope' is not a class under 'classes'", text, StringComparison.Ordinal);
        Assert.Contains("stores.vault-prod.owner: must be one line of at most 128 characters", text, StringComparison.Ordinal);
        // The provider checks the copied address; the error points at the store's line.
        var address = Assert.Single(result.Errors, e => e.KeyPath == "credentials.from-vault.address");
        Assert.Equal(Yaml.Split('\n').ToList().FindIndex(l => l.Contains("address: https://vault.example.org:8200", StringComparison.Ordinal)) + 1, address.Line);
    }

    [Fact]
    public async Task The_report_from_the_config_alone_finds_owners_unused_credentials_and_parallel_paths()
    {
        var result = await CompileAsync(Yaml);
        var config = result.Config!;
        var findings = ReconcileReport.Find(config, new UsageSnapshot { Source = UsageSnapshot.FromNothing }, DateTimeOffset.UtcNow, 30);
        Assert.Contains(findings, f => f.Kind == ReconcileReport.IdentityWithoutOwner && f.Subject == "spiffe://example.org/ns/reports/sa/cron");
        Assert.DoesNotContain(findings, f => f.Kind == ReconcileReport.IdentityWithoutOwner && f.Subject == "spiffe://example.org/ns/payments/sa/api");
        Assert.Contains(findings, f => f.Kind == ReconcileReport.CredentialNotInRules && f.Subject == "inline");
        var parallel = Assert.Single(findings, f => f.Kind == ReconcileReport.ParallelAccessPath);
        Assert.Equal("spiffe://example.org/ns/payments/sa/api -> api.example.com:443", parallel.Subject);
        Assert.Equal(["from-file", "from-vault"], parallel.Related);
        Assert.Contains(findings, f => f.Kind == ReconcileReport.StaticSecret && f.Subject == "from-file" && f.AgeDays is >= 0);
        Assert.Contains(findings, f => f.Kind == ReconcileReport.StoreUnused && f.Subject == "spare");
        Assert.DoesNotContain(findings, f => f.Kind is ReconcileReport.ClassRefusesRule or ReconcileReport.ClassTtlUnenforceable);
        Assert.DoesNotContain(findings, f => f.Kind is ReconcileReport.CredentialUnused or ReconcileReport.RuleIdentityNeverSeen);
        Assert.All(ReconcileReport.OwnedBy(findings, "alice@example.org", null), f => Assert.Equal("alice@example.org", f.Owner));
        var csv = ReconcileReport.Csv(findings);
        Assert.StartsWith("kind,subject,", csv, StringComparison.Ordinal);
        Assert.Equal(findings.Count + 1, csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Length);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
