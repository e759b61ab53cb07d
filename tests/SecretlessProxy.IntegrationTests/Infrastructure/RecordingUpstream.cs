using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        RecordingUpstream? self = null;
        app.Run(async context =>
        {
            self!.Requests.Enqueue(new ReceivedRequest(
                context.Request.Method,
                context.Request.Path.Value + context.Request.QueryString.Value,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase))
            {
                ReceivedAt = DateTimeOffset.UtcNow,
            });
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Body);
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new RecordingUpstream(app, new Uri(address + "/"));
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
