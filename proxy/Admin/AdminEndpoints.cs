using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Prometheus;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Metrics;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// The admin API on the admin listener: health and readiness, Prometheus metrics, the public JWKS, the effective
/// config (secrets redacted), revocation of a credential or of everything one workload holds, grants and the
/// inventory. On an https admin listener every endpoint but health, readiness and JWKS requires an admin SVID.
/// </summary>
internal sealed class AdminEndpoints(ConfigManager configs, SigningKeyDirectory signingKeys, CredentialBroker broker, IHostApplicationLifetime lifetime, ProxyMetrics metrics,
    GrantEndpoints grants, InventoryEndpoint inventory, GrantRequestEndpoints grantRequests, ConsoleEndpoints console)
{
    private const string RevokePrefix = "/credentials/";
    private const string RevokeSuffix = "/revoke";
    private const string Endpoints = "/healthz, /readyz, /metrics, /config, /inventory, /inventory/reconcile, /grants, /grants/requests, /console, /.well-known/jwks.json, POST /credentials/{name}/revoke and POST /workloads/revoke";

    private readonly MetricServerMiddleware _metrics = new(_ => Task.CompletedTask, new MetricServerMiddleware.Settings { Registry = metrics.Registry });

    public async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        var listener = configs.Current.Listener(context.Features.Get<IListenerFeature>()?.Name);
        if (GrantRequestEndpoints.Handles(path))
        {
            // Approvers authenticate there: an ID token, or the admin listener's own check.
            await grantRequests.HandleAsync(context, listener, path);
            return;
        }
        if (!await AdminAccess.CheckAsync(context, listener, path))
        {
            return;
        }
        if (path.StartsWith(RevokePrefix, StringComparison.Ordinal) && path.EndsWith(RevokeSuffix, StringComparison.Ordinal) && path.Length > RevokePrefix.Length + RevokeSuffix.Length)
        {
            await RevokeAsync(context, path[RevokePrefix.Length..^RevokeSuffix.Length]);
            return;
        }
        if (ConsoleEndpoints.Handles(path))
        {
            await console.HandleAsync(context, listener, path);
            return;
        }
        if (path == "/inventory" || path.StartsWith("/inventory/", StringComparison.Ordinal))
        {
            await inventory.HandleAsync(context, path);
            return;
        }
        if (path == "/grants" || path.StartsWith("/grants/", StringComparison.Ordinal))
        {
            await grants.HandleAsync(context, path);
            return;
        }
        switch (path)
        {
            case "/.well-known/jwks.json":
                await WriteAsync(context, StatusCodes.Status200OK, signingKeys.Document(), "application/jwk-set+json");
                return;
            case "/healthz":
                await WriteAsync(context, StatusCodes.Status200OK, "{\"status\":\"ok\"}");
                return;
            case "/readyz":
                var started = lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested;
                var loaded = configs.Generation > 0;
                // Listeners whose certificate and bundles come from the Workload API serve nothing until both arrived.
                if (started && loaded && configs.Current.WorkloadApi?.NotReadyReason is { } waiting)
                {
                    await Problem.WriteAsync(context, RefusalCatalog.NotReady, waiting);
                    return;
                }
                await (started && loaded
                    ? WriteAsync(context, StatusCodes.Status200OK, $"{{\"status\":\"ready\",\"configGeneration\":{configs.Generation},\"reloadRefusals\":{configs.Refusals}}}")
                    : Problem.WriteAsync(context, RefusalCatalog.NotReady,
                        loaded ? "the listeners are not up yet (or the proxy is stopping)" : "no config is loaded yet"));
                return;
            case "/metrics":
                await _metrics.Invoke(context);
                return;
            case "/config":
                await WriteAsync(context, StatusCodes.Status200OK, configs.Current.EffectiveConfig);
                return;
            case "/workloads/revoke":
                await RevokeWorkloadAsync(context);
                return;
            default:
                await Problem.WriteAsync(context, RefusalCatalog.NoAdminEndpoint, "the admin listener serves " + Endpoints);
                return;
        }
    }

    /// <summary>POST /credentials/{name}/revoke: drop the cached credential so the next request fetches anew.</summary>
    private async Task RevokeAsync(HttpContext context, string name)
    {
        if (!await RequireMethodAsync(context, HttpMethods.Post))
        {
            return;
        }
        if (!configs.Current.Credentials.TryGetValue(name, out var binding))
        {
            await Problem.WriteAsync(context, RefusalCatalog.UnknownCredential,
                "no credential of that name is configured", credential: name.Length <= 100 ? name : null);
            return;
        }
        // Drops it here, deletes it from Redis and tells the other replicas (when Redis is configured).
        var wasCached = await broker.RevokeAsync(binding);
        await WriteAsync(context, StatusCodes.Status200OK,
            $"{{\"credential\":{JsonSerializer.Serialize(binding.Name)},\"revoked\":true,\"wasCached\":{(wasCached ? "true" : "false")}}}");
    }

    /// <summary>
    /// POST /workloads/revoke with <c>{"identity": "spiffe://..."}</c>: drops every credential issued for that workload
    /// (workload-bound credentials such as jwt and token exchange). Credentials shared by all callers are listed,
    /// not revoked: they are not this workload's alone (revoke them by name).
    /// </summary>
    private async Task RevokeWorkloadAsync(HttpContext context)
    {
        if (!await RequireMethodAsync(context, HttpMethods.Post))
        {
            return;
        }
        var body = await AdminJson.ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        if (AdminJson.String(body, "identity") is not { } text || !SpiffeId.TryParse(text, out var id, out var error))
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidIdentity,
                "the body must be {\"identity\": \"spiffe://trust-domain/path\"} with a valid SPIFFE ID");
            return;
        }
        _ = error;
        var revoked = new JsonArray();
        var shared = new JsonArray();
        foreach (var binding in configs.Current.Credentials.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            if (binding.Provider.IsWorkloadBound)
            {
                var wasCached = await broker.RevokeAsync(binding, id.Value);
                revoked.Add(new JsonObject { ["credential"] = binding.Name, ["wasCached"] = wasCached });
            }
            else
            {
                shared.Add(binding.Name);
            }
        }
        var answer = new JsonObject { ["identity"] = id.Value, ["revoked"] = revoked, ["sharedNotRevoked"] = shared };
        await WriteAsync(context, StatusCodes.Status200OK, answer.ToJsonString());
    }

    internal static async Task<bool> RequireMethodAsync(HttpContext context, params string[] methods)
    {
        if (methods.Any(m => string.Equals(m, context.Request.Method, StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }
        context.Response.Headers.Allow = string.Join(", ", methods);
        await Problem.WriteAsync(context, RefusalCatalog.MethodNotAllowed, $"this endpoint takes {string.Join(" or ", methods)}");
        return false;
    }

    internal static Task WriteAsync(HttpContext context, int status, string json, string contentType = "application/json")
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(json);
    }
}
