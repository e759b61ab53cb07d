using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>A real Kestrel upstream on 127.0.0.1 that records every request it receives and answers a fixed body.</summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    public const string Body = "{\"upstream\":\"ok\"}";

    private readonly WebApplication _app;

    private RecordingUpstream(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public static async Task<RecordingUpstream> StartAsync()
    {
        RecordingUpstream? self = null;
        var (app, address) = await LoopbackApp.StartAsync(async context =>
        {
            self!.Requests.Enqueue(LoopbackApp.Received(context.Request));
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Body);
        });
        self = new RecordingUpstream(app, address);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record ReceivedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers)
{
    /// <summary>When the upstream received it (its own clock).</summary>
    public DateTimeOffset ReceivedAt { get; init; }
}
