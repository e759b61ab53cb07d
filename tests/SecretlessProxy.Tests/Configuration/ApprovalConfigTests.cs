using System.Net;
using SecretlessProxy.Approvals;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Tests.Configuration;

/// <summary><c>approvers</c> on rules and the <c>approvals</c> section: what compiles, what is refused and why.</summary>
public sealed class ApprovalConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-approvals-").FullName;

    public ApprovalConfigTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
        File.WriteAllText(Path.Combine(_dir, "token.txt"), "t");
    }

    private static string Yaml(string rule, string approvals = "") => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
        credentials:
          deploy: { provider: file, path: token.txt }
        policies:
          - name: ci-deploys
            allow: ["spiffe://example.org/ns/ci/sa/runner"]
            routes: [deploy]
        {{rule}}
        ReverseProxy:
          Routes:
            deploy: { ClusterId: c, Match: { Path: "/deploy/{**rest}" }, Metadata: { Credential: deploy } }
          Clusters:
            c: { Destinations: { d1: { Address: "https://deploy.example.com/" } } }
        {{approvals}}
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
    }

    [Fact]
    public async Task Approvers_and_the_approvals_section_compile()
    {
        var result = await CompileAsync(Yaml(
            "    requireGrant: true\n    approvers: [\"spiffe://example.org/ns/sre/*\", { uid: 0 }, { group: sre }, { name: alice@example.org }]",
            "approvals:\n  requestTtl: 15m\n  maxPendingPerRequester: 2\n  oidc: { issuer: \"https://login.example.org\", audience: approvals, nameClaim: name }\n  webhook: { urlEnv: SLACK_URL, retries: 2, timeout: 3s }\n"));
        Assert.Empty(result.Errors);
        using var config = result.Config!;
        var approvers = config.Policy.Rules.Single().Approvers!;
        Assert.True(config.Policy.TakesGrantRequests);
        Assert.Equal(["spiffe://example.org/ns/sre/*", "uid:0", "group:sre", "name:alice@example.org"], approvers.Describe());
        Assert.True(SpiffeId.TryParse("spiffe://example.org/ns/sre/sa/bob", out var sre, out _));
        Assert.True(approvers.Admits(new Approver(ApproverKind.Svid, sre!.Value, [], sre)));
        Assert.True(approvers.Admits(new Approver(ApproverKind.AdminUid, "unix:uid=0", [], null, 0)));
        Assert.True(approvers.Admits(new Approver(ApproverKind.Oidc, "carol@example.org", ["dev", "sre"])));
        Assert.True(approvers.Admits(new Approver(ApproverKind.Oidc, "alice@example.org", [])));
        Assert.False(approvers.Admits(new Approver(ApproverKind.Oidc, "spiffe://example.org/ns/sre/sa/bob", ["dev"])));
        Assert.False(approvers.Admits(new Approver(ApproverKind.AdminUid, "unix:uid=1000", [], null, 1000)));
        Assert.Equal(TimeSpan.FromMinutes(15), config.Approvals.RequestTtl);
        Assert.Equal(2, config.Approvals.MaxPendingPerRequester);
        Assert.Equal("name", config.Approvals.Oidc!.NameClaim);
        Assert.Equal("SLACK_URL", config.Approvals.Webhook!.AddressVariable);
    }

    [Fact]
    public async Task Bad_approvers_and_approvals_are_refused_with_a_fix()
    {
        var result = await CompileAsync(Yaml(
            "    approvers: [\"spiffe://Example.org/x\", { uid: root }, { team: sre }, { group: sre }]",
            "approvals:\n  maxPendingPerRequester: 0\n  webhook: { url: \"https://hooks.example.org/x\", urlFile: hook.txt }\n"));
        var text = string.Join("\n", result.Errors);
        Assert.Contains("policies[0].approvers: applies to rules with requireGrant: true", text, StringComparison.Ordinal);
        Assert.Contains("policies[0].approvers[0]: is not a SPIFFE ID pattern", text, StringComparison.Ordinal);
        Assert.Contains("policies[0].approvers[1].uid: 'root' is not a uid", text, StringComparison.Ordinal);
        Assert.Contains("policies[0].approvers[2]: must be a SPIFFE ID pattern or one of", text, StringComparison.Ordinal);
        Assert.Contains("approvals.oidc: is required: a rule's approvers name OIDC groups or names", text, StringComparison.Ordinal);
        Assert.Contains("approvals.maxPendingPerRequester: is not a whole number from 1 to 1000", text, StringComparison.Ordinal);
        Assert.Contains("approvals.webhook: needs exactly one of url, urlFile and urlEnv", text, StringComparison.Ordinal);
        Assert.All(result.Errors, e => Assert.False(string.IsNullOrWhiteSpace(e.Fix)));
    }

    [Fact]
    public void Slack_text_is_escaped_and_durations_read_as_people_write_them()
    {
        Assert.Equal("&lt;!channel&gt; &amp; co", ApprovalService.Slack("<!channel> & co"));
        Assert.Equal("30m", ApprovalService.Show(TimeSpan.FromMinutes(30)));
        Assert.Equal("2h", ApprovalService.Show(TimeSpan.FromHours(2)));
        Assert.Equal("90s", ApprovalService.Show(TimeSpan.FromSeconds(90)));
        Assert.Equal("a b", ApprovalService.Clean(" a\nb "));
        // A Slack webhook URL carries its secret in the path: GET /config never shows it.
        Assert.Equal(EffectiveConfig.Redacted, EffectiveConfig.Redact("approvals:webhook:url", "https://hooks.slack.com/services/T000/B000/canary"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
