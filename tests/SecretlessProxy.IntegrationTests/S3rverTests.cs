using System.Diagnostics;
using System.Net;
using System.Text;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// S3 end to end through the proxy against <c>s3rver</c> (a fake S3 from the npm registry): the workload sends
/// plain unsigned requests, the proxy signs them (SigV4, its own static keys), and s3rver stores, lists and serves
/// the objects. s3rver checks the access key id but does not recompute V4 signatures, so signature correctness is
/// proven separately (AwsSigV4Tests, against AWS's own signer, and the public test vectors).
/// </summary>
public sealed class S3rverTests : IAsyncLifetime, IDisposable
{
    private const string Bucket = "reports";

    private readonly TestPki _pki = new();
    private Process _s3rver = null!;
    private Uri _s3 = null!;

    public async Task InitializeAsync()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        var dir = Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", "aws");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "s3rver")), $"s3rver is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        var data = Directory.CreateDirectory(Path.Combine(_pki.Directory, "s3rver-data")).FullName;
        var start = new ProcessStartInfo("node") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("s3rver.mjs");
        start.ArgumentList.Add(data);
        start.ArgumentList.Add(Bucket);
        _s3rver = Process.Start(start)!;
        var errors = _s3rver.StandardError.ReadToEndAsync();
        var read = _s3rver.StandardOutput.ReadLineAsync();
        var line = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(30))) == read ? await read : null;
        if (line?.StartsWith("listening ", StringComparison.Ordinal) != true)
        {
            _s3rver.Kill(entireProcessTree: true);
            Assert.Fail($"s3rver did not start: {line} {await errors}");
        }
        _s3 = new Uri($"http://127.0.0.1:{line!["listening ".Length..]}/");
    }

    public async Task DisposeAsync()
    {
        if (!_s3rver.HasExited)
        {
            _s3rver.Kill(entireProcessTree: true);
            await _s3rver.WaitForExitAsync();
        }
        _s3rver.Dispose();
    }

    private string Config(Uri upstream, string accessKeyId)
    {
        File.WriteAllText(Path.Combine(_pki.Directory, "s3-access-key-id"), accessKeyId + "\n");
        File.WriteAllText(Path.Combine(_pki.Directory, "s3-secret-access-key"), "S3RVER\n");
        return ProxyUnderTest.DefaultConfig(upstream,
                extraCredentials: "  s3:\n    provider: aws-static\n    accessKeyIdFile: s3-access-key-id\n    secretAccessKeyFile: s3-secret-access-key\n    inject: { type: sigv4, service: s3, region: us-east-1, payload: signed }",
                extraPolicies: "  - name: payments-uses-s3\n    allow: [payments]\n    routes: [s3]",
                extraRoutes: "    s3:\n      ClusterId: s3\n      Match: { Path: \"/s3/{**rest}\" }\n      Metadata: { Credential: s3 }\n      Transforms: [ { PathRemovePrefix: /s3 } ]")
            .Replace("  Clusters:\n", $"  Clusters:\n    s3:\n      Destinations:\n        d1: {{ Address: \"{_s3}\" }}\n", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Objects_are_stored_listed_and_read_back_through_the_signing_proxy()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, "S3RVER"));
        using var client = proxy.Client();

        using (var content = new StringContent("quarterly figures, 2026 Q3", Encoding.UTF8, "text/plain"))
        using (var put = await client.PutAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}/2026/q3 summary.txt"), content))
        {
            Assert.True(put.StatusCode == HttpStatusCode.OK, $"{(int)put.StatusCode}: {await put.Content.ReadAsStringAsync()}");
        }
        using (var get = await client.GetAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}/2026/q3 summary.txt")))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal("quarterly figures, 2026 Q3", await get.Content.ReadAsStringAsync());
        }
        using (var list = await client.GetAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}?list-type=2&prefix=2026/")))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Contains("<Key>2026/q3 summary.txt</Key>", await list.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        using (var delete = await client.DeleteAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}/2026/q3 summary.txt")))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}/2026/q3 summary.txt"))).StatusCode);
    }

    [Fact]
    public async Task S3_refuses_keys_it_does_not_know_so_the_proxy_really_signs()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, "AKIDUNKNOWN000000000"));
        using var client = proxy.Client();
        using var get = await client.GetAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}/anything.txt"));
        Assert.Equal(HttpStatusCode.Forbidden, get.StatusCode);
        Assert.Contains("InvalidAccessKeyId", await get.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
