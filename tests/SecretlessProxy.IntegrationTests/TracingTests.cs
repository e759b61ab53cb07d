using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Exporter;
using SecretlessProxy.IntegrationTests.Infrastructure;
using SecretlessProxy.Telemetry;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Optional OpenTelemetry traces: the proxy exports its stage spans over OTLP (http/protobuf here, to a small
/// receiver that keeps what it is sent), in the caller's trace, and never with a secret in them.
/// </summary>
public sealed class TracingTests : IAsyncLifetime, IDisposable
{
    private readonly TestPki _pki = new();
    private readonly ConcurrentQueue<byte[]> _exports = new();
    private WebApplication _receiver = null!;
    private Uri _endpoint = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _receiver = builder.Build();
        _receiver.MapPost("/v1/traces", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            _exports.Enqueue(body.ToArray());
            context.Response.ContentType = "application/x-protobuf";
        });
        await _receiver.StartAsync();
        _endpoint = new Uri(_receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1/traces");
    }

    public async Task DisposeAsync()
    {
        await _receiver.StopAsync();
        await _receiver.DisposeAsync();
    }

    [Fact]
    public async Task Stage_spans_are_exported_in_the_callers_trace_without_secrets()
    {
        string traceId;
        ProxyUnderTest proxy;
        await using (proxy = await ProxyUnderTest.StartAsync(_pki, tracing: new TracingSettings(_endpoint, OtlpExportProtocol.HttpProtobuf, ServiceName: "secretless-under-test")))
        {
            using var client = proxy.Client();
            using var request = TraceParent.Get(new Uri(proxy.ProxyUri, "/allowed/traced"), out traceId);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // The upstream is in the same trace.
            Assert.Contains(traceId, proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/traced").Headers["traceparent"].ToString(), StringComparison.Ordinal);
        }
        // Disposing the proxy flushes the exporter.
        var traceBytes = Convert.FromHexString(traceId);
        var exported = _exports.Where(e => e.AsSpan().IndexOf(traceBytes) >= 0).ToList();
        Assert.NotEmpty(exported);
        var text = Encoding.Latin1.GetString([.. exported.SelectMany(e => e)]);
        foreach (var expected in new[] { "secretless.identity", "secretless.policy", "secretless.credential", "secretless-under-test", "payments-uses-allowed", "github" })
        {
            Assert.Contains(expected, text, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(ProxyUnderTest.Canary, Encoding.Latin1.GetString([.. _exports.SelectMany(e => e)]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_tracing_the_upstream_still_gets_the_audit_records_trace_id()
    {
        await using var proxy = await ProxyUnderTest.StartAsync(_pki);
        using var client = proxy.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(new Uri(proxy.ProxyUri, "/allowed/untraced"))).StatusCode);
        var record = await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("kind").GetString() == "decision");
        var traceId = record.GetProperty("traceId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", traceId);
        var traceparent = proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/untraced").Headers["traceparent"].ToString();
        Assert.Matches($"^00-{traceId}-[0-9a-f]{{16}}-00$", traceparent);

        // A caller's own traceparent is passed on as it came.
        using var request = TraceParent.Get(new Uri(proxy.ProxyUri, "/allowed/traced-by-caller"), out var callerTrace);
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
        Assert.Contains(callerTrace, proxy.Upstream.Requests.Single(r => r.PathAndQuery == "/allowed/traced-by-caller").Headers["traceparent"].ToString(), StringComparison.Ordinal);
    }

    public void Dispose() => _pki.Dispose();
}
