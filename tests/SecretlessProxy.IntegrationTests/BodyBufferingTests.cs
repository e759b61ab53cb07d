using System.Net;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// A route that signs the payload reads the body into memory first. The review found that a Content-Length promise
/// reserved the memory before any byte arrived (40 header-only connections took the heap to 423 MB). Now memory
/// follows the bytes that arrived, and all bodies together stay under limits.maxBufferedBodyBytes, past which a
/// request gets 503 with Retry-After instead of an out-of-memory failure.
/// </summary>
public sealed class BodyBufferingTests : IDisposable
{
    private const string Metric = "secretless_buffered_request_body_bytes";
    private const int Segment = 64 * 1024;

    private readonly TestPki _pki = new();

    private string Config(Uri upstream, long limit)
    {
        File.WriteAllText(Path.Combine(_pki.Directory, "aws-access-key-id"), "AKIDBUFFERTEST000000\n");
        File.WriteAllText(Path.Combine(_pki.Directory, "aws-secret-access-key"), "canary-aws-secret-buffering\n");
        return ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: "  aws:\n    provider: aws-static\n    accessKeyIdFile: aws-access-key-id\n    secretAccessKeyFile: aws-secret-access-key\n"
                + "    inject: { type: sigv4, service: execute-api, region: us-east-1, payload: signed, maxPayloadBytes: 20971520 }",
            extraPolicies: "  - name: payments-uses-api\n    allow: [payments]\n    routes: [api]",
            extraRoutes: "    api:\n      ClusterId: upstream\n      Match: { Path: \"/api/{**rest}\" }\n      Metadata: { Credential: aws }")
            + $"\nlimits:\n  maxBufferedBodyBytes: {limit}\n";
    }

    /// <summary>A body that sends <paramref name="first"/> bytes, then waits for <see cref="Release"/> before sending the rest.</summary>
    private sealed class StalledContent(long length, int first, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var sent = 0L;
            var chunk = new byte[8192];
            while (sent < first)
            {
                var count = (int)Math.Min(chunk.Length, first - sent);
                await stream.WriteAsync(chunk.AsMemory(0, count));
                sent += count;
            }
            await stream.FlushAsync();
            await release;
            while (sent < length)
            {
                var count = (int)Math.Min(chunk.Length, length - sent);
                await stream.WriteAsync(chunk.AsMemory(0, count));
                sent += count;
            }
        }

        protected override bool TryComputeLength(out long value)
        {
            value = length;
            return true;
        }
    }

    [Fact]
    public async Task Many_streams_promising_large_bodies_hold_only_what_they_sent()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, 64L * 1024 * 1024));
        // HTTP/2: one connection carries every stream, as in the review.
        using var client = proxy.Client(HttpVersion.Version20);
        client.Timeout = TimeSpan.FromMinutes(2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var abandon = new CancellationTokenSource();
        GC.Collect();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var calls = Enumerable.Range(0, 40).Select(i =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, new Uri(proxy.ProxyUri, $"/api/upload/{i}"))
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new StalledContent(10 * 1024 * 1024, 1, release.Task),
            };
            return client.SendAsync(request, abandon.Token);
        }).ToList();
        // Every stream sent one byte of its 10 MiB: each holds one segment, not the promise.
        await Scrape.WaitForAsync(proxy, Metric, "", v => v == 40 * Segment);
        var heapDuring = GC.GetTotalMemory(forceFullCollection: true);
        Assert.True(heapDuring - heapBefore < 64L * 1024 * 1024, $"the heap grew by {(heapDuring - heapBefore) / 1024 / 1024} MiB for 40 bytes of body");

        // The callers give up: every reservation is returned.
        await abandon.CancelAsync();
        foreach (var call in calls)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        }
        await Scrape.WaitForAsync(proxy, Metric, "", v => v == 0);
        release.SetResult();
    }

    [Fact]
    public async Task Past_the_shared_limit_a_request_gets_503_with_retry_after_and_is_served_once_memory_frees()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, 4 * Segment));
        using var stalledClient = proxy.Client();
        stalledClient.Timeout = TimeSpan.FromMinutes(2);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Two uploads that each sent a little over one segment (two segments each: the whole limit), then stall.
        var stalled = Enumerable.Range(0, 2).Select(i => stalledClient.PutAsync(new Uri(proxy.ProxyUri, $"/api/slow/{i}"),
            new StalledContent(2 * Segment, Segment + 1, release.Task))).ToList();
        var text = await Scrape.WaitForAsync(proxy, Metric, "", v => v == 4 * Segment);
        Assert.Equal(4 * Segment, Scrape.Value(text, "secretless_buffered_request_body_limit_bytes"));

        using var client = proxy.Client();
        var before = proxy.Upstream.Requests.Count;
        using (var refused = await client.PutAsync(new Uri(proxy.ProxyUri, "/api/normal"), new ByteArrayContent(new byte[10_000])))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
            Assert.Contains("\"reason\":\"body_buffer_full\"", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal(before, proxy.Upstream.Requests.Count);

        release.SetResult();
        foreach (var response in await Task.WhenAll(stalled))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        await Scrape.WaitForAsync(proxy, Metric, "", v => v == 0);
        using var served = await client.PutAsync(new Uri(proxy.ProxyUri, "/api/normal"), new ByteArrayContent(new byte[10_000]));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    public void Dispose() => _pki.Dispose();
}
