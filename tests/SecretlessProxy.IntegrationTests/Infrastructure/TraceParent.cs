using System.Security.Cryptography;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>A fresh W3C <c>traceparent</c> header, so a test can find its own request's decision record by <c>traceId</c>.</summary>
public static class TraceParent
{
    public static (string Header, string TraceId) New()
    {
        var traceId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        return ($"00-{traceId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}-01", traceId);
    }

    /// <summary>A GET carrying a fresh <c>traceparent</c>; returns the trace id to look the record up by.</summary>
    public static HttpRequestMessage Get(Uri uri, out string traceId)
    {
        var (header, id) = New();
        traceId = id;
        var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.TryAddWithoutValidation("traceparent", header);
        return request;
    }
}
