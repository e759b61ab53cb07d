using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A chat webhook stand-in on 127.0.0.1 (Kestrel): records every POST body, and answers <c>500</c> to the first
/// <paramref name="failFirst"/> of them, <c>200</c> after.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _seen;

    private WebhookReceiver(WebApplication app, Uri address)
    {
        _app = app;
        Url = new Uri(address, "/hooks/approvals");
    }

    public Uri Url { get; }

    /// <summary>Every body received, in order, with the status it was answered.</summary>
    public ConcurrentQueue<(string Body, int Status)> Received { get; } = new();

    public string AllBodies => string.Join("\n", Received.Select(r => r.Body));

    public static async Task<WebhookReceiver> StartAsync(int failFirst = 0)
    {
        WebhookReceiver? self = null;
        var (app, address) = await LoopbackApp.StartAsync(async context =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            var status = Interlocked.Increment(ref self!._seen) <= failFirst ? 500 : 200;
            self.Received.Enqueue((body, status));
            context.Response.StatusCode = status;
            await context.Response.WriteAsync(status == 200 ? "ok" : "try again");
        });
        self = new WebhookReceiver(app, address);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
