using System.Net.Http;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;
using Yarp.ReverseProxy.Transforms;

namespace SecretlessProxy.Injection;

/// <summary>
/// The credential prepared for this request. Before it goes on, the injector inspects the request as it will be
/// forwarded (<see cref="ICredentialInjector.Inspect"/>); other paths the request reads are decided by policy as
/// GETs. Header and query injections are applied by the YARP request transform; signing injections
/// (<see cref="ICredentialInjector.SignsRequest"/>) are handed to the outgoing <see cref="HttpRequestMessage"/>
/// and applied by <see cref="LateInjectionHandler"/> on the request as sent. A credential that carries a client
/// certificate (<see cref="Credential.ClientCertificate"/>) has it presented on the upstream connection
/// (<see cref="ClientCertificateHandler"/>).
/// </summary>
internal sealed class InjectionFeature(IPreparedInjection prepared, ICredentialInjector injector, string? payloadSha256, EchoMask? mask, InjectionFeature.PolicyView policy,
    ClientCertificate? certificate = null)
    : IOutboundRequest, IForwardedRequest
{
    /// <summary>Where the transform leaves a signing injection for <see cref="LateInjectionHandler"/>.</summary>
    public static readonly HttpRequestOptionsKey<InjectionFeature> LateKey = new("SecretlessProxy.LateInjection");

    private RequestTransformContext? _context;

    /// <summary>What a read the request makes besides its own path is decided against.</summary>
    public sealed record PolicyView(PolicyModel Policy, WorkloadIdentity Caller, string RouteId, GrantSet? Grants, DateTimeOffset Now);

    public IPreparedInjection Prepared => prepared;

    /// <summary>The SHA-256 (hex) of the buffered body, when the injector asked for it.</summary>
    public string? PayloadSha256 => payloadSha256;

    /// <summary>The injected value's wire forms to mask in the response, or null when it has none.</summary>
    public EchoMask? Mask => mask;

    /// <summary>A refusal (status, reason, detail, rule) when the injector or the policy objects to the request as it will be forwarded.</summary>
    public (Refusal Entry, string Detail, string? Rule)? Inspect(RequestTransformContext context)
    {
        _context = context;
        try
        {
            var inspection = injector.Inspect(this);
            if (inspection.Refusal is { } reason)
            {
                return (RefusalCatalog.GetOr(reason, RefusalCatalog.InjectorRefused), inspection.Detail ?? "the credential's injector refused the request", null);
            }
            if (inspection.ReadsUpstreamPaths is { Count: > 0 } reads)
            {
                foreach (var upstreamPath in reads)
                {
                    if (DecideRead(context, upstreamPath) is { } refusal)
                    {
                        return refusal;
                    }
                }
            }
            return null;
        }
        finally
        {
            _context = null;
        }
    }

    /// <summary>Maps an upstream path the request reads back to the route's own path space and decides it as a GET.</summary>
    private (Refusal, string, string?)? DecideRead(RequestTransformContext context, string upstreamPath)
    {
        if (PathGuard.Check(upstreamPath) is { } ambiguous)
        {
            return (RefusalCatalog.Get(ambiguous.Reason), "the path the request also reads is ambiguous: " + ambiguous.Detail, null);
        }
        var proxyPath = RoutePaths.ToProxyPath(context.HttpContext.Request.Path.Value ?? "/", context.Path.Value ?? "/", Uri.UnescapeDataString(upstreamPath));
        if (proxyPath is null)
        {
            return (RefusalCatalog.ReadOutsideRoute, $"the request also reads '{upstreamPath}', which lies outside what route '{policy.RouteId}' reaches", null);
        }
        var decision = policy.Policy.Decide(policy.Caller, policy.RouteId, HttpMethods.Get, proxyPath, policy.Now, policy.Grants);
        if (decision.IsAllowed)
        {
            return null;
        }
        return (RefusalCatalog.ReadDenied, $"the request also reads '{proxyPath}', and a GET of it is not allowed ({decision.Detail})", decision.Rule?.Name);
    }

    public void Apply(RequestTransformContext context)
    {
        if (certificate is not null)
        {
            context.ProxyRequest.Options.Set(ClientCertificateHandler.Key, certificate);
        }
        if (injector.SignsRequest)
        {
            context.ProxyRequest.Options.Set(LateKey, this);
            return;
        }
        _context = context;
        prepared.Apply(this);
        _context = null;
    }

    string IForwardedRequest.Method => _context!.HttpContext.Request.Method;

    string IForwardedRequest.UpstreamPath => _context!.Path.ToUriComponent();

    IEnumerable<KeyValuePair<string, string>> IForwardedRequest.Headers
    {
        get
        {
            foreach (var (name, values) in _context!.HttpContext.Request.Headers)
            {
                foreach (var value in values)
                {
                    yield return new(name, value ?? "");
                }
            }
        }
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
