using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Decisions;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Refusals;
using Yarp.ReverseProxy.Model;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// Decides by policy whether the caller may make this call on the matched route; 403 otherwise. First makes sure
/// the request's config snapshot is the one YARP's route came from (a reload may have swapped them between
/// entry and routing), so route, policy and credential all come from one config.
/// </summary>
internal sealed partial class PolicyMiddleware(RequestDelegate next, ConfigManager configs, AccessDecider decider, ILogger<PolicyMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var record = context.Features.GetRequiredFeature<DecisionRecord>();
        var identity = context.Features.GetRequiredFeature<IWorkloadIdentityFeature>().Verification.Identity!;
        var proxyFeature = context.GetReverseProxyFeature();
        var routeConfig = proxyFeature.Route.Config;
        var routeId = routeConfig.RouteId;
        record.Route = routeId;
        record.PathTemplate = routeConfig.Match.Path;

        var config = SnapshotFor(context, routeConfig, proxyFeature.Cluster?.Config);
        if (config is null)
        {
            await Problem.WriteAsync(context, RefusalCatalog.ConfigChanged,
                $"route '{routeId}' was reloaded twice while this call was being routed; it was not forwarded, try again", route: routeId);
            return;
        }

        var request = new AccessRequest(routeId, context.Request.Method, context.Request.Path.Value!)
        {
            Listener = context.Features.Get<IListenerFeature>()?.Name,
            Source = context.Connection.RemoteIpAddress,
        };
        var outcome = config.DecisionHook is null
            ? decider.Decide(config, identity, in request, record)
            : await decider.DecideAsync(config, identity, request, record, context.RequestAborted);
        if (!outcome.IsAllowed)
        {
            await Problem.WriteAsync(context, outcome.Refusal!, outcome.Detail!, identity: identity.SpiffeId.Value, route: routeId, rule: outcome.Decision.Rule?.Name, hookReason: outcome.HookReason);
            return;
        }
        if (context.Request.QueryString.HasValue && config.Policy.RestrictsMethods(routeId) && HasMethodOverride(context.Request.Query))
        {
            record.PolicyOutcome = DecisionRecord.Deny;
            Log.MethodOverrideRefused(logger, identity.SpiffeId.Value, routeId, context.Request.Method);
            await Problem.WriteAsync(context, RefusalCatalog.MethodOverride,
                $"the query carries a '_method' override, and the rules of route '{routeId}' allow only some methods: an upstream that honours it would run a method the policy did not decide; the call was not forwarded",
                identity: identity.SpiffeId.Value, route: routeId, rule: outcome.Decision.Rule?.Name);
            return;
        }
        await next(context);
    }

    /// <summary>
    /// The config YARP's route and cluster came from: the entry snapshot in all but the instant of a reload, else
    /// the current or the replaced config; null when neither produced them (two reloads in one request).
    /// </summary>
    private ProxyConfig? SnapshotFor(HttpContext context, Yarp.ReverseProxy.Configuration.RouteConfig route, Yarp.ReverseProxy.Configuration.ClusterConfig? cluster)
    {
        var snapshot = context.Features.Get<ProxyConfig>() ?? configs.Current;
        if (snapshot.Produced(route, cluster))
        {
            return snapshot;
        }
        foreach (var candidate in (ReadOnlySpan<ProxyConfig?>)[configs.Current, configs.Previous])
        {
            if (candidate is not null && !ReferenceEquals(candidate, snapshot) && candidate.Produced(route, cluster))
            {
                Log.SnapshotSwitched(logger, route.RouteId);
                context.Features.Set(candidate);
                return candidate;
            }
        }
        return null;
    }

    private static bool HasMethodOverride(IQueryCollection query)
    {
        foreach (var key in query.Keys)
        {
            if (string.Equals(key, "_method", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Denied {Identity} on route {Route} ({Method}): a _method override on a route whose rules restrict methods")]
        public static partial void MethodOverrideRefused(ILogger logger, string identity, string route, string method);

        [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "Route {Route} was matched from the config on the other side of a reload; the request uses that config throughout")]
        public static partial void SnapshotSwitched(ILogger logger, string route);
    }
}
