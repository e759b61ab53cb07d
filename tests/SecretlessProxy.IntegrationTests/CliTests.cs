using System.Diagnostics;
using System.Net;
using SecretlessProxy.Cli;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>The secretless-proxy command line, in process and as a real process (the demo).</summary>
public sealed class CliTests : IDisposable
{
    private readonly TestPki _pki = new();

    private static Task<(int Exit, string Out, string Err)> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task Validate_accepts_a_good_file_and_lists_every_error_of_a_bad_one()
    {
        var upstream = new Uri("http://127.0.0.1:1/");
        var good = Path.Combine(_pki.Directory, "good.yaml");
        await File.WriteAllTextAsync(good, ProxyUnderTest.DefaultConfig(upstream));
        var ok = await RunAsync("validate", "--config", good);
        Assert.Equal(0, ok.Exit);
        Assert.Contains("valid (3 listener(s), 2 route(s)", ok.Out, StringComparison.Ordinal);

        var bad = Path.Combine(_pki.Directory, "bad.yaml");
        await File.WriteAllTextAsync(bad, ProxyUnderTest.DefaultConfig(upstream)
            .Replace("cert: server.pem", "cert: nope.pem", StringComparison.Ordinal)
            .Replace("provider: file", "provider: filee", StringComparison.Ordinal)
            .Replace("spiffeId: spiffe://example.org/ns/payments/sa/api", "spiffeId: spiffe://example.org/ns/payments/", StringComparison.Ordinal)
            .Replace("routes: [allowed]", "routes: [alowed]", StringComparison.Ordinal));
        var failed = await RunAsync("validate", "--config", bad);
        Assert.Equal(1, failed.Exit);
        Assert.Contains("bad.yaml: 4 error(s)", failed.Err, StringComparison.Ordinal);
        Assert.Contains("bad.yaml:4: listeners[0].certificate.cert", failed.Err, StringComparison.Ordinal);
        Assert.Contains("credentials.github.provider", failed.Err, StringComparison.Ordinal);
        Assert.Contains("identities.payments.spiffeId", failed.Err, StringComparison.Ordinal);
        Assert.Contains("policies[0].routes[0]: names route 'alowed'", failed.Err, StringComparison.Ordinal);
        Assert.Contains("Fix: did you mean 'allowed'?", failed.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gateway.yaml")]
    [InlineData("sidecar.yaml")]
    [InlineData("postgres.yaml")]
    [InlineData("forward-proxy.yaml")]
    [InlineData("conditional-access.yaml")]
    [InlineData("aws-secrets-manager.yaml")]
    [InlineData("kubernetes-secrets.yaml")]
    [InlineData("vault.yaml")]
    [InlineData("inventory-governance.yaml")]
    [InlineData("approvals.yaml")]
    [InlineData("mysql-gateway.yaml")]
    [InlineData("mcp.yaml")]
    [InlineData("bearer-callers.yaml")]
    [InlineData("azure-key-vault.yaml")]
    [InlineData("google-secret-manager.yaml")]
    [InlineData("upstream-mtls.yaml")]
    [InlineData("federation.yaml")]
    public async Task Example_configs_in_the_repository_validate(string name)
    {
        var repo = new DirectoryInfo(CliRun.Repository);
        var dir = Path.Combine(_pki.Directory, "examples");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(repo.FullName, "config", name), Path.Combine(dir, name));
        Assert.Equal(0, (await RunAsync("dev-ca", "init", "--out", Path.Combine(dir, "certs"))).Exit);
        Assert.Equal(0, (await RunAsync("dev-ca", "server", "--ca", Path.Combine(dir, "certs"), "--out", Path.Combine(dir, "certs"))).Exit);
        ExampleWalkthrough.WriteFiles(Path.Combine(dir, "certs"));
        var result = await RunAsync("validate", "--config", Path.Combine(dir, name));
        Assert.True(result.Exit == 0, result.Err);
        Assert.Contains("valid (", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_postgres_example_with_its_dynamic_role_credential_validates()
    {
        var repo = new DirectoryInfo(CliRun.Repository);
        var dir = Path.Combine(_pki.Directory, "postgres-example");
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(repo.FullName, "config", "postgres.yaml"), Path.Combine(dir, "postgres.yaml"));
        var certs = Path.Combine(dir, "certs");
        Assert.Equal(0, (await RunAsync("dev-ca", "init", "--out", certs)).Exit);
        Assert.Equal(0, (await RunAsync("dev-ca", "server", "--ca", certs, "--out", certs)).Exit);
        File.Copy(Path.Combine(certs, "ca.pem"), Path.Combine(certs, "pg-ca.pem"));
        var result = await RunAsync("validate", "--config", Path.Combine(dir, "postgres.yaml"));
        Assert.True(result.Exit == 0, result.Err);
        Assert.Contains("valid (", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_refuses_to_start_on_a_bad_config_and_says_why()
    {
        var bad = Path.Combine(_pki.Directory, "bad-run.yaml");
        await File.WriteAllTextAsync(bad, "listeners: []\nReverseProxy: { Routes: { r: { ClusterId: none, Match: { Path: /x } } } }\n");
        var result = await RunAsync("run", "--config", bad);
        Assert.Equal(2, result.Exit);
        Assert.Contains("refusing to start", result.Err, StringComparison.Ordinal);
        Assert.Contains("ReverseProxy.Routes.r.ClusterId: names cluster 'none'", result.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_command_has_help()
    {
        foreach (var command in new[] { "run", "validate", "demo", "dev-ca", "dev-ca init", "dev-ca issue", "dev-ca server", "inventory", "explain", "test" })
        {
            var result = await RunAsync([.. command.Split(' '), "--help"]);
            Assert.Equal(0, result.Exit);
            Assert.Contains("Usage:", result.Out, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Dev_ca_mints_certificates_the_proxy_accepts()
    {
        var dir = Path.Combine(_pki.Directory, "devca");
        Assert.Equal(0, (await RunAsync("dev-ca", "init", "--out", dir)).Exit);
        Assert.Equal(0, (await RunAsync("dev-ca", "server", "--ca", dir, "--out", dir)).Exit);
        var issued = await RunAsync("dev-ca", "issue", "--ca", dir, "--spiffe-id", TestPki.PaymentsId, "--out", dir, "--ttl", "1h");
        Assert.Equal(0, issued.Exit);
        foreach (var file in new[] { "ca.pem", "ca.key", "server.pem", "server.key", "svid.pem", "svid.key" })
        {
            Assert.True(File.Exists(Path.Combine(dir, file)), file);
        }
        Assert.Equal(1, (await RunAsync("dev-ca", "issue", "--ca", dir, "--spiffe-id", "spiffe://example.org", "--out", dir)).Exit);
        Assert.Equal(1, (await RunAsync("dev-ca", "issue", "--ca", dir, "--spiffe-id", "spiffe://Bad/x", "--out", dir)).Exit);
        Assert.Contains("no dev CA", (await RunAsync("dev-ca", "issue", "--ca", Path.Combine(dir, "missing"), "--spiffe-id", TestPki.PaymentsId, "--out", dir)).Err, StringComparison.Ordinal);
        var broken = Path.Combine(_pki.Directory, "broken-ca");
        Directory.CreateDirectory(broken);
        File.Copy(Path.Combine(dir, "ca.pem"), Path.Combine(broken, "ca.pem"));
        await File.WriteAllTextAsync(Path.Combine(broken, "ca.key"), "not a key");
        var corrupt = await RunAsync("dev-ca", "server", "--ca", broken, "--out", broken);
        Assert.Equal(1, corrupt.Exit);
        Assert.Contains("cannot use the dev CA", corrupt.Err, StringComparison.Ordinal);
        Assert.Contains("must look like", (await RunAsync("dev-ca", "init", "--out", broken, "--ttl", "soon")).Err, StringComparison.Ordinal);

        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => ProxyUnderTest.DefaultConfig(u)
            .Replace("cert: server.pem, key: server.key", "cert: devca/server.pem, key: devca/server.key", StringComparison.Ordinal)
            .Replace("example.org: example.org.pem", "example.org: devca/ca.pem", StringComparison.Ordinal));
        var result = await Curl.RunAsync("--cacert", Path.Combine(dir, "ca.pem"), "--cert", Path.Combine(dir, "svid.pem"), "--key", Path.Combine(dir, "svid.key"),
            $"https://localhost:{proxy.ProxyUri.Port}/allowed/devca");
        Assert.True(result.Status == 200, result.StdErr + result.Body);
        Assert.Equal("Bearer " + ProxyUnderTest.Canary, proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/devca").Headers["Authorization"]);
    }

    [Fact]
    public async Task Demo_prints_a_curl_command_that_shows_the_injected_header()
    {
        var start = new ProcessStartInfo("dotnet");
        start.ArgumentList.Add(typeof(CliApp).Assembly.Location);
        await DemoCheck.RunAsync(start, Path.Combine(_pki.Directory, "demo"));
    }

    public void Dispose() => _pki.Dispose();
}
