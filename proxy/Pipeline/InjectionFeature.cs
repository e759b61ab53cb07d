using System.Net.Http;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Injection;
using Yarp.ReverseProxy.Transforms;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// The credential prepared for this request. Header and query injections are applied by the YARP request
/// transform; signing injections (<see cref="ICredentialInjector.SignsRequest"/>) are handed to the outgoing
/// <see cref="HttpRequestMessage"/> and applied by <see cref="LateInjectionHandler"/> on the request as sent.
/// </summary>
internal sealed class InjectionFeature(IPreparedInjection prepared, bool signsRequest = false, string? payloadSha256 = null) : IOutboundRequest
{
    /// <summary>Where the transform leaves a signing injection for <see cref="LateInjectionHandler"/>.</summary>
    public static readonly HttpRequestOptionsKey<InjectionFeature> LateKey = new("SecretlessProxy.LateInjection");

    private RequestTransformContext? _context;

    public IPreparedInjection Prepared => prepared;

    /// <summary>The SHA-256 (hex) of the buffered body, when the injector asked for it.</summary>
    public string? PayloadSha256 => payloadSha256;

    public void Apply(RequestTransformContext context)
    {
        if (signsRequest)
        {
            context.ProxyRequest.Options.Set(LateKey, this);
            return;
        }
        _context = context;
        prepared.Apply(this);
        _context = null;
    }

    public void SetHeader(string name, string value)
    {
        var request = _context!.ProxyRequest;
        request.Headers.Remove(name);
        if (request.Content is { } content && content.Headers.NonValidated.Contains(name))
        {
            // Remove validates the name: only call it for a header the content really has.
            content.Headers.Remove(name);
        }
        request.Headers.TryAddWithoutValidation(name, value);
    }

    public void SetQueryParameter(string name, string value) => _context!.Query.Collection[name] = value;
}
