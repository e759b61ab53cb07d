using System.Net;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.Tests.Configuration;

/// <summary><c>spiffe.workloadApi</c>: what compiles (no socket needed), what is refused and why.</summary>
public sealed class SpiffeConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-spiffe-").FullName;

    public SpiffeConfigTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
    }

    private static string Yaml(string spiffe, string listenerTls = "") => $$"""
        {{spiffe}}
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
        {{listenerTls}}
        ReverseProxy:
          Routes: {}
          Clusters: {}
        """;

    private async Task<ConfigCompilation> CompileAsync(string text)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog());
    }

    [Theory]
    [InlineData("unix:/run/spire/agent.sock", "/run/spire/agent.sock")]
    [InlineData("unix:///run/spire/agent.sock", "/run/spire/agent.sock")]
    [InlineData("unix:agent.sock", "agent.sock")]
    public async Task Compiles_without_the_socket_existing_and_without_certificate_files(string socket, string expected)
    {
        var result = await CompileAsync(Yaml($"spiffe:\n  workloadApi: {{ socket: \"{socket}\", retryMaxDelay: 5s }}"));
        Assert.Empty(result.Errors);
        using var config = result.Config!;
        var api = config.WorkloadApi!;
        Assert.Equal(Path.GetFullPath(expected, _dir), api.Settings.SocketPath);
        Assert.Equal(TimeSpan.FromSeconds(5), api.Settings.RetryMaxDelay);
        var tls = config.Listener("mtls")!.Tls!;
        Assert.True(tls.LiveCertificate);
        Assert.True(tls.LiveBundles);
        // An offline compile never contacts the agent: it says so instead of waiting.
        Assert.Contains("not contacted", api.NotReadyReason, StringComparison.Ordinal);
        Assert.Same(SecretlessProxy.Identity.TrustBundleSet.Empty, tls.Bundles);
        Assert.Throws<InvalidOperationException>(() => tls.Certificate);
    }

    [Fact]
    public async Task Files_given_beside_the_Workload_API_are_used_for_their_part()
    {
        var result = await CompileAsync(Yaml("spiffe:\n  workloadApi: { socket: unix:/run/spire/agent.sock }", "    trustBundles: { example.org: example.org.pem }"));
        Assert.Empty(result.Errors);
        using var config = result.Config!;
        var tls = config.Listener("mtls")!.Tls!;
        Assert.True(tls.LiveCertificate);
        Assert.False(tls.LiveBundles);
        Assert.Equal(["example.org"], tls.Bundles.TrustDomains);
    }

    [Theory]
    [InlineData("spiffe: { workloadApi: { socket: \"tcp://127.0.0.1:8081\" } }", "spiffe.workloadApi.socket", "is not a unix: address")]
    [InlineData("spiffe: { workloadApi: { socket: \"unix:\" } }", "spiffe.workloadApi.socket", "names no socket file")]
    [InlineData("spiffe: { workloadApi: { retryMaxDelay: 5s } }", "spiffe.workloadApi.socket", "is required")]
    [InlineData("spiffe: { workloadApi: { socket: \"unix:/a.sock\", retryMaxDelay: soon } }", "spiffe.workloadApi.retryMaxDelay", "is not a duration")]
    [InlineData("spiffe: { workloadApi: { socket: \"unix:/a.sock\", sockets: x } }", "spiffe.workloadApi.sockets", "is not a key of spiffe.workloadApi")]
    [InlineData("spiffe: { workloadAPI2: { socket: x } }", "spiffe.workloadAPI2", "is not a key of spiffe")]
    public async Task Refuses_a_bad_workload_api_section_naming_the_key(string spiffe, string key, string message)
    {
        if (Environment.GetEnvironmentVariable(SpiffeSection.EndpointVariable) is not null)
        {
            return;
        }
        var result = await CompileAsync(Yaml(spiffe));
        var error = Assert.Single(result.Errors, e => e.KeyPath == key);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(error.Fix));
    }

    [Fact]
    public async Task Without_the_Workload_API_an_https_listener_still_needs_its_files_and_the_fix_names_both_ways()
    {
        var result = await CompileAsync(Yaml(""));
        var certificate = Assert.Single(result.Errors, e => e.KeyPath.EndsWith("certificate.cert", StringComparison.Ordinal));
        Assert.Contains("spiffe.workloadApi", certificate.Fix, StringComparison.Ordinal);
        var bundles = Assert.Single(result.Errors, e => e.KeyPath.EndsWith("trustBundles", StringComparison.Ordinal));
        Assert.Contains("spiffe.workloadApi", bundles.Fix, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
