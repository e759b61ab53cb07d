using Microsoft.AspNetCore.Http;
using SecretlessProxy.Audit;

namespace SecretlessProxy.Pipeline;

/// <summary>The fallback when no route matches: 404, recorded as a deny.</summary>
internal static class NoRouteEndpoint
{
    public static Task HandleAsync(HttpContext context)
    {
        var record = context.Features.Get<DecisionRecord>();
        if (record is not null)
        {
            record.Outcome = DecisionRecord.Deny;
            record.Reason = "no_route";
        }
        return Problem.WriteAsync(context, StatusCodes.Status404NotFound, "no_route", "No route",
            $"no route matches {context.Request.Method} {context.Request.Path}", identity: record?.Identity);
    }
}
