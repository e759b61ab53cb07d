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

/// <summary>A real Kestrel upstream over TLS on 127.0.0.1 (the test PKI's server certificate for <c>localhost</c>, from its server CA) that records what it receives.</summary>
public sealed class TlsRecordingUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TlsRecordingUpstream(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <param name="certificate">The server certificate; the PKI's <c>server.pem</c> (server CA, localhost) when null.</param>
    public static async Task<TlsRecordingUpstream> StartAsync(TestPki pki, System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        certificate ??= System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(
            Path.Combine(pki.Directory, "server.pem"), Path.Combine(pki.Directory, "server.key"));
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        TlsRecordingUpstream? self = null;
        app.Run(async context =>
        {
            self!.Requests.Enqueue(LoopbackApp.Received(context.Request));
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(RecordingUpstream.Body);
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        self = new TlsRecordingUpstream(app, address.Port);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
