using SecretlessProxy.Abstractions;
using Yarp.ReverseProxy.Transforms;

namespace SecretlessProxy.Pipeline;

/// <summary>The credential prepared for this request; the YARP request transform puts it on the outgoing request.</summary>
internal sealed class InjectionFeature(IPreparedInjection prepared) : IOutboundRequest
{
    private RequestTransformContext? _context;

    public void Apply(RequestTransformContext context)
    {
        _context = context;
        prepared.Apply(this);
        _context = null;
    }

    public void SetHeader(string name, string value)
    {
        var request = _context!.ProxyRequest;
        request.Headers.Remove(name);
        request.Content?.Headers.Remove(name);
        request.Headers.TryAddWithoutValidation(name, value);
    }

    public void SetQueryParameter(string name, string value) => _context!.Query.Collection[name] = value;
}
