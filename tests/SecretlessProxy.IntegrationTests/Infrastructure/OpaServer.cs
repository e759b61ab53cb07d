using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A small server speaking OPA's data API as the proxy's decision hook uses it: <c>POST /v1/data/&lt;path&gt;</c> with
/// <c>{"input": …}</c>, answered <c>{"result": {"allow": …, "reason": …}}</c> by <paramref name="decide"/>; an unknown
/// path is answered <c>{}</c> (undefined), as OPA does. Records every input body it received.
/// </summary>
public sealed class OpaServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OpaServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>The raw request bodies, in arrival order.</summary>
    public ConcurrentQueue<string> Inputs { get; } = new();

    public static async Task<OpaServer> StartAsync(string dataPath, Func<JsonElement, (bool Allow, string Reason)> decide)
    {
        OpaServer? self = null;
        var (app, address) = await LoopbackApp.StartAsync(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            context.Response.ContentType = "application/json";
            if (context.Request.Method != HttpMethods.Post || context.Request.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true)
            {
                context.Response.StatusCode = 400;
                await context.Response.WriteAsync("""{"code":"invalid_parameter","message":"POST application/json expected"}""");
                return;
            }
            self!.Inputs.Enqueue(body);
            if (context.Request.Path != "/v1/data/" + dataPath)
            {
                await context.Response.WriteAsync("{}");
                return;
            }
            using var document = JsonDocument.Parse(body);
            var (allow, reason) = decide(document.RootElement.GetProperty("input"));
            await context.Response.WriteAsync(JsonSerializer.Serialize(new { result = new { allow, reason } }));
        });
        self = new OpaServer(app, address);
        return self;
    }

    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
