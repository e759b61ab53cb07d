using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.Refusals;

/// <summary>
/// Writes RFC 9457 <c>application/problem+json</c> refusals: a stable <c>type</c> and <c>reason</c> code, a
/// title, a detail written by us (never exception text), and the facts that decided (identity, route, rule).
/// </summary>
public static class Problem
{
    public const string TypePrefix = "urn:secretless-proxy:problem:";

    // problem+json is never embedded in HTML: keep quotes and apostrophes readable.
    internal static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Answers <paramref name="refusal"/> (status, reason, title, <c>Retry-After</c>) with our own
    /// <paramref name="detail"/>, and records it on the request's <see cref="IRefusalSink"/> (the decision record),
    /// so the answer and the audit fields come from the same catalog entry.
    /// </summary>
    public static async Task WriteAsync(HttpContext context, Refusal refusal, string detail,
        string? identity = null, string? route = null, string? rule = null, string? credential = null, string? hookReason = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(refusal);
        context.Features.Get<IRefusalSink>()?.Refused(refusal);
        if (context.Response.HasStarted)
        {
            return;
        }
        var status = refusal.Status;
        var reason = refusal.Reason;
        var title = refusal.Title;
        context.Response.Clear();
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        context.Response.Headers.CacheControl = "no-store";
        if (refusal.RetryAfterSeconds is { } retryAfter)
        {
            context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        var buffer = new MemoryStream();
        await using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("type", TypePrefix + reason.Replace('_', '-'));
            json.WriteString("title", title);
            json.WriteNumber("status", status);
            json.WriteString("detail", detail);
            json.WriteString("reason", reason);
            Optional(json, "identity", identity);
            Optional(json, "route", route);
            if (rule is not null || reason is "denied_by_rule" or "no_rule_matched")
            {
                Optional(json, "rule", rule ?? "no rule matched");
            }
            Optional(json, "credential", credential);
            Optional(json, "hookReason", hookReason);
            json.WriteString("requestId", context.TraceIdentifier);
            json.WriteEndObject();
        }
        context.Response.ContentLength = buffer.Length;
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted);
    }

    /// <summary>
    /// The problem+json body of <paramref name="refusal"/> for a front-end that writes its own HTTP answer (the
    /// forward proxy's refusal of a CONNECT, before any HTTP layer runs).
    /// </summary>
    public static byte[] Body(Refusal refusal, string detail, string requestId, string? identity = null)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            json.WriteStartObject();
            json.WriteString("type", TypePrefix + refusal.Reason.Replace('_', '-'));
            json.WriteString("title", refusal.Title);
            json.WriteNumber("status", refusal.Status);
            json.WriteString("detail", detail);
            json.WriteString("reason", refusal.Reason);
            Optional(json, "identity", identity);
            json.WriteString("requestId", requestId);
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void Optional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
