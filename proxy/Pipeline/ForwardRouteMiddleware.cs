using Microsoft.AspNetCore.Http;
using SecretlessProxy.Audit;
using SecretlessProxy.Forwarding;
using SecretlessProxy.Refusals;
using Yarp.ReverseProxy.Model;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// A forward-proxy request (absolute-form, or inside a CONNECT tunnel) may only take a route whose <c>Match.Hosts</c>
/// names its host and port: a path-only route never carries a credential to a host it does not name.
/// </summary>
internal sealed class ForwardRouteMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Features.Get<ForwardTarget>() is { } target)
        {
            var route = context.GetReverseProxyFeature().Route.Config;
            if (!ForwardHosts.Names(route.Match.Hosts, target.Host, target.Port, target.DefaultPort))
            {
                return Problem.WriteAsync(context, RefusalCatalog.ForwardHostNotAllowed,
                    $"route '{route.RouteId}' does not name {target.Host}:{target.Port} in Match.Hosts", identity: context.Features.Get<DecisionRecord>()?.Identity, route: route.RouteId);
            }
        }
        return next(context);
    }
}
