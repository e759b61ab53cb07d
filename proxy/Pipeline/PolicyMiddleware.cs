using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Listeners;
using Yarp.ReverseProxy.Model;

namespace SecretlessProxy.Pipeline;

/// <summary>Decides by policy whether the caller may make this call on the matched route; 403 otherwise.</summary>
internal sealed partial class PolicyMiddleware(RequestDelegate next, ConfigManager configs, Grants.GrantService grants, TimeProvider time, ILogger<PolicyMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var record = context.Features.GetRequiredFeature<DecisionRecord>();
        var identity = context.Features.GetRequiredFeature<IWorkloadIdentityFeature>().Verification.Identity!;
        var routeConfig = context.GetReverseProxyFeature().Route.Config;
        var routeId = routeConfig.RouteId;
        record.Route = routeId;
        record.PathTemplate = routeConfig.Match.Path;

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var activity = Telemetry.Tracing.Source.StartActivity("secretless.policy");
        var decision = configs.Current.Policy.Decide(identity.SpiffeId, routeId, context.Request.Method, context.Request.Path.Value!, time.GetUtcNow(), grants.Current);
        record.PolicyTicks = System.Diagnostics.Stopwatch.GetTimestamp() - started;
        if (activity is not null)
        {
            activity.SetTag("secretless.route", routeId);
            activity.SetTag("secretless.rule", decision.Rule?.Name);
            activity.SetTag("secretless.outcome", decision.IsAllowed ? DecisionRecord.Allow : DecisionRecord.Deny);
            activity.SetTag("secretless.reason", decision.Reason);
            activity.Dispose();
        }
        record.Rule = decision.Rule?.Name;
        record.Reason = decision.Reason;
        if (decision.IsAllowed)
        {
            record.Outcome = record.PolicyOutcome = DecisionRecord.Allow;
            return next(context);
        }
        record.Outcome = record.PolicyOutcome = DecisionRecord.Deny;
        Log.Denied(logger, identity.SpiffeId.Value, routeId, context.Request.Method, decision.Rule?.Name ?? "(none)", decision.Reason);
        return Problem.WriteAsync(context, StatusCodes.Status403Forbidden, decision.Reason, "Forbidden by policy",
            $"{decision.Detail}; the call from '{identity.SpiffeId.Value}' to route '{routeId}' was not forwarded",
            identity: identity.SpiffeId.Value, route: routeId, rule: decision.Rule?.Name);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Denied {Identity} on route {Route} ({Method}): rule {Rule}, reason {Reason}")]
        public static partial void Denied(ILogger logger, string identity, string route, string method, string rule, string reason);
    }
}
