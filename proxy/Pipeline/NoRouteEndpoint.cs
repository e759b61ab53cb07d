using Microsoft.AspNetCore.Http;
using SecretlessProxy.Audit;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Pipeline;

/// <summary>The fallback when no route matches: 404, recorded as a deny.</summary>
internal static class NoRouteEndpoint
{
    public static Task HandleAsync(HttpContext context)
    {
        var record = context.Features.Get<DecisionRecord>();
        return Problem.WriteAsync(context, RefusalCatalog.NoRoute,
            $"no route matches {context.Request.Method} {context.Request.Path}", identity: record?.Identity);
    }
}
