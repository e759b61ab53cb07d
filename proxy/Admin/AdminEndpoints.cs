using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using SecretlessProxy.Configuration;
using Prometheus;
using SecretlessProxy.Credentials;
using SecretlessProxy.Metrics;
using SecretlessProxy.Pipeline;

namespace SecretlessProxy.Admin;

/// <summary>
/// The admin listener: <c>/healthz</c> (the process serves), <c>/readyz</c> (config loaded, listeners up) and
/// <c>POST /credentials/{name}/revoke</c> (drop a cached credential on this replica).
/// </summary>
internal sealed class AdminEndpoints(ConfigManager configs, CredentialBroker broker, IHostApplicationLifetime lifetime, ProxyMetrics metrics)
{
    private readonly MetricServerMiddleware _metrics = new(_ => Task.CompletedTask, new MetricServerMiddleware.Settings { Registry = metrics.Registry });

    private const string RevokePrefix = "/credentials/";
    private const string RevokeSuffix = "/revoke";

    public Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (path.StartsWith(RevokePrefix, StringComparison.Ordinal) && path.EndsWith(RevokeSuffix, StringComparison.Ordinal) && path.Length > RevokePrefix.Length + RevokeSuffix.Length)
        {
            return RevokeAsync(context, path[RevokePrefix.Length..^RevokeSuffix.Length]);
        }
        switch (path)
        {
            case "/.well-known/jwks.json":
                return WriteAsync(context, StatusCodes.Status200OK, configs.SigningKeys.Document(), "application/jwk-set+json");
            case "/metrics":
                return _metrics.Invoke(context);
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
                    "the admin listener serves /healthz, /readyz, /.well-known/jwks.json and POST /credentials/{name}/revoke");
        }
    }

    /// <summary>POST /credentials/{name}/revoke: drop the cached credential so the next request fetches anew.</summary>
    private async Task RevokeAsync(HttpContext context, string name)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await Problem.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method_not_allowed", "Use POST", "revoking a credential takes POST");
            return;
        }
        if (!configs.Current.Credentials.TryGetValue(name, out var binding))
        {
            await Problem.WriteAsync(context, StatusCodes.Status404NotFound, "unknown_credential", "No such credential",
                "no credential of that name is configured", credential: name.Length <= 100 ? name : null);
            return;
        }
        // Drops it here, deletes it from Redis and tells the other replicas (when Redis is configured).
        var wasCached = await broker.RevokeAsync(binding);
        await WriteAsync(context, StatusCodes.Status200OK,
            $"{{\"credential\":{System.Text.Json.JsonSerializer.Serialize(binding.Name)},\"revoked\":true,\"wasCached\":{(wasCached ? "true" : "false")}}}");
    }

    private static Task WriteAsync(HttpContext context, int status, string json, string contentType = "application/json")
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(json);
    }
}
