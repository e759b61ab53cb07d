using System.Diagnostics;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Injection;
using SecretlessProxy.Refusals;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// The YARP transforms of every route: apply the prepared credential to the outgoing request (timed as the
/// injection stage) and note when the request left; on the response, note the upstream's status and when its
/// headers arrived. A cluster that presents the proxy's SVID gets its current certificate on the request (unless the
/// route's credential brought a certificate of its own). Allocates only the traceparent it adds when the caller sent none and tracing is off.
/// </summary>
internal static class UpstreamTransforms
{
    public static ValueTask OnRequest(RequestTransformContext transform)
    {
        var features = transform.HttpContext.Features;
        var record = features.Get<DecisionRecord>();
        var started = Stopwatch.GetTimestamp();
        if (features.Get<InjectionFeature>() is { } injection)
        {
            if (injection.Inspect(transform) is { } refusal)
            {
                // A response set by a request transform stops YARP from forwarding.
                return RefuseAsync(transform, record, refusal);
            }
            injection.Apply(transform);
        }
        if (features.Get<ProxyConfig>() is { ClusterCertificates.Count: > 0 } config
            && config.ClusterCertificates.TryGetValue(transform.HttpContext.GetReverseProxyFeature().Cluster.Config.ClusterId, out var svid)
            && !transform.ProxyRequest.Options.TryGetValue(ClientCertificateHandler.Key, out _))
        {
            try
            {
                transform.ProxyRequest.Options.Set(ClientCertificateHandler.Key, ClientCertificate.For(svid.Certificate));
            }
            catch (InvalidOperationException ex)
            {
                return RefuseAsync(transform, record, (RefusalCatalog.ClientCertificateUnavailable, ex.Message, null));
            }
        }
        if (record is not null)
        {
            // No tracing and no traceparent from the caller: the upstream still gets the trace id of the audit record.
            if (Activity.Current is null && record.TraceId is { } traceId && transform.HttpContext.Request.Headers.TraceParent.Count == 0)
            {
                transform.ProxyRequest.Headers.TryAddWithoutValidation("traceparent", string.Concat("00-", traceId, "-", ActivitySpanId.CreateRandom().ToHexString(), "-00"));
            }
            var now = Stopwatch.GetTimestamp();
            record.InjectionTicks = now - started;
            record.UpstreamSentAt = now;
        }
        return ValueTask.CompletedTask;
    }

    public static ValueTask OnResponse(ResponseTransformContext transform)
    {
        if (transform.ProxyResponse is { } response && transform.HttpContext.Features.Get<DecisionRecord>() is { } record)
        {
            record.UpstreamAnsweredAt = Stopwatch.GetTimestamp();
            record.UpstreamStatus = (int)response.StatusCode;
            if (transform.HttpContext.Features.Get<InjectionFeature>()?.Mask is { } mask)
            {
                record.RedactedInHeaders += mask.MaskLinkHeaders(transform.HttpContext.Response.Headers);
            }
        }
        return ValueTask.CompletedTask;
    }

    private static async ValueTask RefuseAsync(RequestTransformContext transform, DecisionRecord? record, (Refusal Entry, string Detail, string? Rule) refusal)
    {
        if (record is not null && refusal.Rule is not null)
        {
            record.Rule = refusal.Rule;
        }
        await Problem.WriteAsync(transform.HttpContext, refusal.Entry,
            refusal.Detail + "; the call was not forwarded", identity: record?.Identity, route: record?.Route, rule: refusal.Rule, credential: record?.Credential);
    }
}
