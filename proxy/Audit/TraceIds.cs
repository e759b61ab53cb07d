using System.Diagnostics;
using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.Audit;

/// <summary>
/// The W3C trace id of a request: the current activity's (tracing on), else the one in the caller's
/// <c>traceparent</c>, else a new one (<see cref="UpstreamTransforms"/> then sends it upstream in a traceparent).
/// </summary>
internal static class TraceIds
{
    /// <summary>A new random trace id (sessions of protocols that carry none).</summary>
    public static string New() => ActivityTraceId.CreateRandom().ToHexString();

    public static string? Of(HttpContext context)
    {
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity)
        {
            return activity.TraceId.ToHexString();
        }
        return FromHeader(context) ?? ActivityTraceId.CreateRandom().ToHexString();
    }

    /// <summary>The trace id of the caller's <c>traceparent</c>, when it sent a valid one.</summary>
    public static string? FromHeader(HttpContext context)
    {
        var header = context.Request.Headers.TraceParent;
        if (header.Count != 1)
        {
            return null;
        }
        // version "-" trace-id "-" parent-id "-" flags: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
        var value = header[0].AsSpan();
        if (value.Length < 55 || value[2] != '-' || value[35] != '-')
        {
            return null;
        }
        var traceId = value.Slice(3, 32);
        foreach (var c in traceId)
        {
            if (!char.IsAsciiHexDigitLower(c))
            {
                return null;
            }
        }
        return traceId.ContainsAnyExcept('0') ? traceId.ToString() : null;
    }
}
