using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace SecretlessProxy.LoadKit;

/// <summary>The two servers of the harness: the upstream every path ends at, and plain YARP as a baseline.</summary>
internal static class Servers
{
    private static readonly byte[] Body = "ok\n"u8.ToArray();
    private static readonly byte[] TokenBody = """{"access_token":"load-test-access-token-0123456789","token_type":"Bearer","expires_in":3600}"""u8.ToArray();

    /// <summary>
    /// A minimal Kestrel upstream on loopback: every GET answers 3 bytes; <c>POST /token</c> answers an OAuth2 token
    /// response (the proxy fetches one and caches it). HTTP/1.1 on <paramref name="port"/>, h2c on <paramref name="h2cPort"/>.
    /// </summary>
    public static async Task RunUpstreamAsync(int port, int h2cPort)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, h2cPort, l => l.Protocols = HttpProtocols.Http2);
        });
        var app = builder.Build();
        app.Run(context =>
        {
            if (HttpMethods.IsPost(context.Request.Method) && context.Request.Path == "/token")
            {
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = TokenBody.Length;
                return context.Response.Body.WriteAsync(TokenBody).AsTask();
            }
            context.Response.ContentType = "text/plain";
            context.Response.ContentLength = Body.Length;
            return context.Response.Body.WriteAsync(Body).AsTask();
        });
        await app.RunAsync();
    }

    /// <summary>
    /// Plain YARP forwarding in an ASP.NET Core host like the proxy's, with no identity, policy or injection: HTTP on
    /// <paramref name="port"/>, and HTTPS requiring a client certificate that chains to <paramref name="caFile"/> on
    /// <paramref name="tlsPort"/> (nothing else about it is checked).
    /// </summary>
    public static async Task RunYarpAsync(int port, int tlsPort, string upstream, string certFile, string keyFile, string caFile)
    {
        var serverCert = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        serverCert = X509CertificateLoader.LoadPkcs12(serverCert.Export(X509ContentType.Pkcs12), null);
        var ca = X509CertificateLoader.LoadCertificateFromFile(caFile);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        // The same reverse-proxy pipeline the proxy uses (one route, one cluster), minus our stages.
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new Yarp.ReverseProxy.Configuration.RouteConfig { RouteId = "all", ClusterId = "upstream", Match = new() { Path = "/{**catch-all}" } }],
            [new Yarp.ReverseProxy.Configuration.ClusterConfig
            {
                ClusterId = "upstream",
                Destinations = new Dictionary<string, Yarp.ReverseProxy.Configuration.DestinationConfig> { ["d1"] = new() { Address = upstream } },
            }]);
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http1);
            k.Listen(IPAddress.Loopback, tlsPort, l =>
            {
                l.Protocols = HttpProtocols.Http1AndHttp2;
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = serverCert,
                    ClientCertificateMode = ClientCertificateMode.RequireCertificate,
                    ClientCertificateValidation = (certificate, _, _) =>
                    {
                        using var chain = new X509Chain();
                        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                        chain.ChainPolicy.CustomTrustStore.Add(ca);
                        return chain.Build(certificate);
                    },
                });
            });
        });
        var app = builder.Build();
        app.MapReverseProxy();
        await app.RunAsync();
    }
}
