using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using SecretlessProxy.Configuration;
using SecretlessProxy.Pipeline;

namespace SecretlessProxy.Admin;

/// <summary>The admin listener: <c>/healthz</c> (the process serves) and <c>/readyz</c> (config loaded, listeners up).</summary>
internal sealed class AdminEndpoints(ConfigManager configs, IHostApplicationLifetime lifetime)
{
    public Task HandleAsync(HttpContext context)
    {
        switch (context.Request.Path.Value)
        {
            case "/healthz":
                return WriteAsync(context, StatusCodes.Status200OK, "{\"status\":\"ok\"}");
            case "/readyz":
                var started = lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested;
                var loaded = configs.Generation > 0;
                return started && loaded
                    ? WriteAsync(context, StatusCodes.Status200OK, $"{{\"status\":\"ready\",\"configGeneration\":{configs.Generation},\"reloadRefusals\":{configs.Refusals}}}")
                    : Problem.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "not_ready", "Not ready",
                        loaded ? "the listeners are not up yet (or the proxy is stopping)" : "no config is loaded yet");
            default:
                return Problem.WriteAsync(context, StatusCodes.Status404NotFound, "no_admin_endpoint", "No such admin endpoint",
                    "the admin listener serves /healthz and /readyz");
        }
    }

    private static Task WriteAsync(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(json);
    }
}
