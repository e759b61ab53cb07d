using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A real Kestrel upstream over TLS (the test PKI's localhost certificate) that requires a client certificate and
/// accepts only those whose SHA-256 thumbprint it was told to (the handshake fails for any other, and for none). It
/// answers with the thumbprint it saw and records it per request.
/// </summary>
public sealed class MtlsUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private MtlsUpstream(WebApplication app, int port, ConcurrentDictionary<string, bool> accepted)
    {
        _app = app;
        Port = port;
        Accepted = accepted;
    }

    public int Port { get; }

    public Uri Address => new($"https://localhost:{Port}/");

    /// <summary>The SHA-256 thumbprints (hex, upper case) the upstream accepts; change it while running.</summary>
    public ConcurrentDictionary<string, bool> Accepted { get; }

    /// <summary>Each request's path and the client certificate's thumbprint it came with.</summary>
    public ConcurrentQueue<(string Path, string Thumbprint)> Requests { get; } = new();

    /// <summary>Handshakes refused for a certificate not accepted.</summary>
    public int Refused => _refused;

    private int _refused;

    public static string Thumbprint(X509Certificate2 certificate) => certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256);

    public static Task<MtlsUpstream> StartAsync(TestPki pki, params X509Certificate2[] accepted) => StartAsync(pki, null, accepted);

    /// <param name="respond">Answers a request instead of the default (which echoes the thumbprint); gets the request's client certificate.</param>
    public static async Task<MtlsUpstream> StartAsync(TestPki pki, Func<HttpContext, X509Certificate2, Task>? respond, params X509Certificate2[] accepted)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        var server = X509Certificate2.CreateFromPemFile(Path.Combine(pki.Directory, "server.pem"), Path.Combine(pki.Directory, "server.key"));
        var allowed = new ConcurrentDictionary<string, bool>(accepted.Select(c => new KeyValuePair<string, bool>(Thumbprint(c), true)), StringComparer.OrdinalIgnoreCase);
        MtlsUpstream? self = null;
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = server,
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            // Trust is by exact certificate here, not by chain: only the ones the test names get in.
            ClientCertificateValidation = (certificate, _, _) =>
            {
                var ok = allowed.ContainsKey(Thumbprint(certificate));
                if (!ok)
                {
                    Interlocked.Increment(ref self!._refused);
                }
                return ok;
            },
        })));
        var app = builder.Build();
        app.Run(async context =>
        {
            var presented = context.Connection.ClientCertificate is { } c ? Thumbprint(c) : "";
            self!.Requests.Enqueue((context.Request.Path.Value ?? "", presented));
            if (respond is not null)
            {
                await respond(context, context.Connection.ClientCertificate!);
                return;
            }
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("{\"thumbprint\":\"" + presented + "\"}");
        });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        self = new MtlsUpstream(app, address.Port, allowed);
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
