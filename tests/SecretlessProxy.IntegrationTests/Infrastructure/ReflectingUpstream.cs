using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A real Kestrel upstream that behaves like the common servers and frameworks that reflect a request back: a
/// trailing-slash redirect that keeps the query (Location), a default 404 page quoting the URL, TRACE answered with
/// the request's headers, an echo of the headers written a few bytes at a time, a gzip echo when the caller accepts
/// it, Refresh and Link headers built from the URL. It records what it received.
/// </summary>
public sealed class ReflectingUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ReflectingUpstream(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    public Uri Address { get; }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public static async Task<ReflectingUpstream> StartAsync()
    {
        ReflectingUpstream? self = null;
        var (app, address) = await LoopbackApp.StartAsync(async context =>
        {
            var request = context.Request;
            var url = request.Path.Value + request.QueryString.Value;
            self!.Requests.Enqueue(LoopbackApp.Received(request));
            var path = request.Path.Value ?? "/";
            if (HttpMethods.IsTrace(request.Method))
            {
                context.Response.ContentType = "message/http";
                await context.Response.WriteAsync(Headers(request));
            }
            else if (path.EndsWith("/dir", StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
                context.Response.Headers.Location = path + "/" + request.QueryString.Value;
            }
            else if (path.Contains("/missing/", StringComparison.Ordinal))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                context.Response.ContentType = "text/html";
                await context.Response.WriteAsync($"<html><body><h1>Not Found</h1><p>The requested URL {WebUtility.HtmlEncode(url)} was not found on this server.</p></body></html>");
            }
            else if (path.EndsWith("/echo", StringComparison.Ordinal))
            {
                context.Response.ContentType = "text/plain";
                var text = Headers(request);
                for (var i = 0; i < text.Length; i += 5)
                {
                    await context.Response.WriteAsync(text.Substring(i, Math.Min(5, text.Length - i)));
                    await context.Response.Body.FlushAsync();
                }
            }
            else if (path.EndsWith("/gzip", StringComparison.Ordinal))
            {
                context.Response.ContentType = "text/plain";
                var text = Encoding.UTF8.GetBytes(Headers(request));
                if (request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
                {
                    context.Response.Headers.ContentEncoding = "gzip";
                    using var buffer = new MemoryStream();
                    await using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
                    {
                        await gzip.WriteAsync(text);
                    }
                    await context.Response.Body.WriteAsync(buffer.ToArray());
                }
                else
                {
                    await context.Response.Body.WriteAsync(text);
                }
            }
            else if (path.EndsWith("/refresh", StringComparison.Ordinal))
            {
                context.Response.Headers["Refresh"] = "0; url=" + url;
                context.Response.Headers["Link"] = $"<{url}>; rel=\"canonical\"";
                context.Response.Headers["Content-Location"] = url;
                await context.Response.WriteAsync("ok");
            }
            else
            {
                context.Response.ContentType = "application/json";
                await context.Response.WriteAsync("{\"upstream\":\"ok\"}");
            }
        });
        self = new ReflectingUpstream(app, address);
        return self;
    }

    private static string Headers(HttpRequest request)
    {
        var text = new StringBuilder($"{request.Method} {request.Path}{request.QueryString} {request.Protocol}\r\n");
        foreach (var (name, value) in request.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
        {
            text.Append(name).Append(": ").Append(value.ToString()).Append("\r\n");
        }
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
