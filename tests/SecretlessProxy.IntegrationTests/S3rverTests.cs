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

    /// <summary>
    /// Two routes to one bucket: <c>s3</c> where tenant A may read and write only its own prefix (copy sources
    /// allowed, decided by the same policy), and <c>s3all</c> for setting up and checking objects (no copy source).
    /// </summary>
    private string TenantConfig(Uri upstream)
    {
        File.WriteAllText(Path.Combine(_pki.Directory, "s3-access-key-id"), "S3RVER\n");
        File.WriteAllText(Path.Combine(_pki.Directory, "s3-secret-access-key"), "S3RVER\n");
        return ProxyUnderTest.DefaultConfig(upstream,
                extraCredentials: """
                  s3:
                    provider: aws-static
                    accessKeyIdFile: s3-access-key-id
                    secretAccessKeyFile: s3-secret-access-key
                    inject: { type: sigv4, service: s3, region: us-east-1, payload: signed, allowHeaders: [x-amz-copy-source] }
                  s3all:
                    provider: aws-static
                    accessKeyIdFile: s3-access-key-id
                    secretAccessKeyFile: s3-secret-access-key
                    inject: { type: sigv4, service: s3, region: us-east-1, payload: signed }
                """,
                extraPolicies: $"""
                  - name: tenant-a-own-prefix
                    allow: [payments]
                    routes: [s3]
                    methods: [GET, PUT]
                    paths: ["/s3/{Bucket}/tenant-a/**"]
                  - name: setup
                    allow: [payments]
                    routes: [s3all]
                """,
                extraRoutes: """
                    s3:
                      ClusterId: s3
                      Match: { Path: "/s3/{**rest}" }
                      Metadata: { Credential: s3 }
                      Transforms: [ { PathRemovePrefix: /s3 } ]
                    s3all:
                      ClusterId: s3
                      Match: { Path: "/s3all/{**rest}" }
                      Metadata: { Credential: s3all }
                      Transforms: [ { PathRemovePrefix: /s3all } ]
                """)
            .Replace("  Clusters:\n", $"  Clusters:\n    s3:\n      Destinations:\n        d1: {{ Address: \"{_s3}\" }}\n", StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> PutAsync(HttpClient client, Uri url, string body, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = new StringContent(body, Encoding.UTF8, "text/csv") };
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task A_copy_source_the_policy_denies_is_refused_and_one_it_allows_is_copied()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, TenantConfig);
        using var client = proxy.Client();
        using (var setup = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3all/{Bucket}/tenant-b/payroll.csv"), "name,salary\nb,100"))
        {
            Assert.Equal(HttpStatusCode.OK, setup.StatusCode);
        }
        using (var own = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3/{Bucket}/tenant-a/source.csv"), "a,1"))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        }

        // The review's finding: a PUT the policy allows, carrying a copy source it does not.
        using (var stolen = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3/{Bucket}/tenant-a/stolen.csv"), "", ("x-amz-copy-source", $"/{Bucket}/tenant-b/payroll.csv")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, stolen.StatusCode);
            var problem = System.Text.Json.JsonDocument.Parse(await stolen.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("read_denied", problem.GetProperty("reason").GetString());
            Assert.Contains($"/s3/{Bucket}/tenant-b/payroll.csv", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/s3all/{Bucket}/tenant-a/stolen.csv"))).StatusCode);

        // Encoded the way SDKs send it, or written without the leading slash: the same decision.
        using (var encoded = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3/{Bucket}/tenant-a/stolen2.csv"), "", ("x-amz-copy-source", $"{Bucket}/tenant-b/payroll.csv?versionId=1")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, encoded.StatusCode);
        }
        using (var dots = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3/{Bucket}/tenant-a/stolen3.csv"), "", ("x-amz-copy-source", $"/{Bucket}/tenant-a/../tenant-b/payroll.csv")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, dots.StatusCode);
        }

        // A copy within the tenant's own prefix is a GET the policy allows: S3 copies it.
        using (var copy = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3/{Bucket}/tenant-a/copy.csv"), "", ("x-amz-copy-source", $"/{Bucket}/tenant-a/source.csv")))
        {
            Assert.True(copy.StatusCode == HttpStatusCode.OK, $"{(int)copy.StatusCode}: {await copy.Content.ReadAsStringAsync()}");
        }
        Assert.Equal("a,1", await client.GetStringAsync(new Uri(proxy.ProxyUri, $"/s3/{Bucket}/tenant-a/copy.csv")));
    }

    [Theory]
    [InlineData("x-amz-acl", "public-read")]
    [InlineData("x-amz-grant-read", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")]
    [InlineData("x-amz-website-redirect-location", "https://evil.example/")]
    [InlineData("x-amz-copy-source", "/reports/tenant-b/payroll.csv")]
    public async Task Headers_that_change_access_or_name_another_object_are_not_signed(string name, string value)
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, TenantConfig);
        using var client = proxy.Client();
        using var put = await PutAsync(client, new Uri(proxy.ProxyUri, $"/s3all/{Bucket}/tenant-b/public.csv"), "x", (name, value));
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
        Assert.Contains("aws_header_not_allowed", await put.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(new Uri(proxy.ProxyUri, $"/s3all/{Bucket}/tenant-b/public.csv"))).StatusCode);
    }

    public void Dispose() => _pki.Dispose();
}
