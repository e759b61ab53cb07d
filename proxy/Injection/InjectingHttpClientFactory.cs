using System.Net.Http;
using SecretlessProxy.Abstractions;
using Yarp.ReverseProxy.Forwarder;

namespace SecretlessProxy.Injection;

/// <summary>
/// YARP's own client factory, with <see cref="LateInjectionHandler"/> as the outermost handler of every cluster's
/// client, upstream certificates verified against the system roots or the forward proxy's <c>upstreamCaFile</c>, and
/// <see cref="ClientCertificateHandler"/> keeping one connection pool per client certificate the cluster presents.
/// </summary>
internal sealed class InjectingHttpClientFactory(UpstreamTrust trust, TimeProvider time) : ForwarderHttpClientFactory
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.SslOptions.RemoteCertificateValidationCallback ??= trust.Validate;
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
    {
        var primary = (SocketsHttpHandler)handler;
        return new LateInjectionHandler(base.WrapHandler(context, new ClientCertificateHandler(handler, certificate => ForCertificate(context, primary, certificate), time)));
    }

    /// <summary>A handler configured as the cluster's (YARP's defaults, the cluster's HttpClient settings, our trust) that presents <paramref name="certificate"/>.</summary>
    private SocketsHttpHandler ForCertificate(ForwarderHttpClientContext context, SocketsHttpHandler primary, ClientCertificate certificate)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = primary.UseProxy,
            AllowAutoRedirect = primary.AllowAutoRedirect,
            AutomaticDecompression = primary.AutomaticDecompression,
            UseCookies = primary.UseCookies,
            EnableMultipleHttp2Connections = primary.EnableMultipleHttp2Connections,
            ActivityHeadersPropagator = primary.ActivityHeadersPropagator,
            ConnectTimeout = primary.ConnectTimeout,
        };
        ConfigureHandler(context, handler);
        handler.SslOptions.ClientCertificateContext = certificate.Context;
        return handler;
    }
}
