using System.Diagnostics;
using SecretlessProxy.Audit;
using Yarp.ReverseProxy.Transforms;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// The YARP transforms of every route: apply the prepared credential to the outgoing request (timed as the
/// injection stage) and note when the request left; on the response, note the upstream's status and when its
/// headers arrived. No allocation.
/// </summary>
internal static class UpstreamTransforms
{
    public static ValueTask OnRequest(RequestTransformContext transform)
    {
        var features = transform.HttpContext.Features;
        var record = features.Get<DecisionRecord>();
        var started = Stopwatch.GetTimestamp();
        features.Get<InjectionFeature>()?.Apply(transform);
        if (record is not null)
        {
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
        }
        return ValueTask.CompletedTask;
    }
}
