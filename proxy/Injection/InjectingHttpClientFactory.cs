using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;

namespace SecretlessProxy.Injection;

/// <summary>
/// YARP's own client factory, with <see cref="LateInjectionHandler"/> as the outermost handler of every cluster's
/// client, and upstream certificates verified against the system roots or the forward proxy's <c>upstreamCaFile</c>.
/// </summary>
internal sealed class InjectingHttpClientFactory(UpstreamTrust trust) : ForwarderHttpClientFactory
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.SslOptions.RemoteCertificateValidationCallback ??= trust.Validate;
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new LateInjectionHandler(base.WrapHandler(context, handler));
}
