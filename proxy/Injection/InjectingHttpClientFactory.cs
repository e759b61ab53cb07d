using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;

namespace SecretlessProxy.Injection;

/// <summary>YARP's own client factory, with <see cref="LateInjectionHandler"/> as the outermost handler of every cluster's client.</summary>
internal sealed class InjectingHttpClientFactory : ForwarderHttpClientFactory
{
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new LateInjectionHandler(base.WrapHandler(context, handler));
}
