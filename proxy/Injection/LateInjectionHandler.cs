using System.Net.Http;

namespace SecretlessProxy.Injection;

/// <summary>
/// The last hop before the wire: YARP has run every request transform, picked the destination and built the
/// URL. A signing injection left on the request by the transform is applied here, so what is signed is what
/// is sent. Requests without one pass untouched.
/// </summary>
internal sealed class LateInjectionHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Options.TryGetValue(InjectionFeature.LateKey, out var feature))
        {
            feature.Prepared.Apply(new OutgoingRequest(request, feature.PayloadSha256));
        }
        return base.SendAsync(request, cancellationToken);
    }
}
