using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Decisions;
using SecretlessProxy.Identity;
using SecretlessProxy.Injection;
using SecretlessProxy.Listeners;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// Strips credentials and forwarding headers the client sent, obtains the route's credential and prepares its
/// injection. A credential that cannot be had or sent ends the call with 502 before the upstream is contacted; one the
/// caller may not have (a secret class, a per-user secret the user lacks) with 403, in the route's protocol when its
/// front-end answers refusals itself (<see cref="IRefusalAnswer"/>).
/// </summary>
internal sealed partial class CredentialMiddleware(RequestDelegate next, ConfigManager configs, AccessDecider decider, Grants.GrantService grants, BodyBufferBudget bodyBudget, ILogger<CredentialMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var record = context.Features.GetRequiredFeature<DecisionRecord>();
        var routeId = record.Route!;
        var config = context.Features.Get<ProxyConfig>() ?? configs.Current;
        config.RouteCredentials.TryGetValue(routeId, out var binding);
        var security = config.RouteSecurity.GetValueOrDefault(routeId) ?? RouteSecurity.Default;
        StripInbound(context.Request.Headers, binding?.Injector.HeaderNames, security.Stripped);
        if (binding is null)
        {
            await next(context);
            return;
        }

        var identity = context.Features.GetRequiredFeature<IWorkloadIdentityFeature>().Verification.Identity!;
        var obtained = await decider.CredentialAsync(binding, identity, routeId, record, context.RequestAborted, context.Features.Get<ActingUser>());
        if (obtained.Credential is not { } credential)
        {
            if (obtained.Refusal!.AuditOutcome == Refusal.Deny && context.Features.Get<IRefusalAnswer>() is { } answer)
            {
                await answer.WriteAsync(context, obtained.Refusal, obtained.Detail!);
                return;
            }
            await Problem.WriteAsync(context, obtained.Refusal, obtained.Detail!, route: routeId, credential: binding.Name);
            return;
        }
        IPreparedInjection prepared;
        try
        {
            prepared = binding.Injector.Prepare(credential);
        }
        catch (CredentialInjectionException ex)
        {
            var refused = decider.Refuse(RefusalCatalog.CredentialInvalid, binding.Name, ex.Reason, routeId);
            await Problem.WriteAsync(context, refused.Refusal!, refused.Detail!, route: routeId, credential: binding.Name);
            return;
        }
        string? payloadSha256 = null;
        if (binding.Injector.PayloadHashLimit > 0)
        {
            var payload = await PayloadHasher.BufferAndHashAsync(context.Request, binding.Injector.PayloadHashLimit, bodyBudget, context.RequestAborted);
            if (payload.Refusal is { } refusal)
            {
                await Problem.WriteAsync(context, refusal.Entry, refusal.Detail, route: routeId, credential: binding.Name);
                return;
            }
            payloadSha256 = payload.Sha256;
        }
        var mask = binding.MaskFor(prepared);
        var injection = new InjectionFeature(prepared, binding.Injector, payloadSha256, mask,
            new InjectionFeature.PolicyView(config.Policy, identity, routeId, grants.Current, record.Time), credential.ClientCertificate);
        context.Features.Set(injection);
        if (mask is null || !security.RedactBody)
        {
            await next(context);
            return;
        }
        if (IsBodyless(context.Request.Method))
        {
            // HEAD answers carry no body; still mask the link headers (the response transform does).
            await next(context);
            return;
        }
        // A compressed answer cannot be scanned: ask the upstream for an identity-encoded one.
        context.Request.Headers.Remove("Accept-Encoding");
        var original = context.Response.Body;
        var masking = new MaskingResponseBody(original, context.Response, mask, security.RedactBodyScanBytes, record);
        context.Response.Body = masking;
        try
        {
            await next(context);
            await masking.CompleteAsync(context.RequestAborted);
        }
        finally
        {
            context.Response.Body = original;
            if (record.RedactedInBody > 0)
            {
                Log.Redacted(logger, routeId, record.RedactedInBody, "body");
            }
            if (masking.SkippedEncoded)
            {
                Log.BodyNotScanned(logger, routeId);
            }
        }
    }

    private static bool IsBodyless(string method) => HttpMethods.IsHead(method);

    /// <summary>
    /// Removes what a client must not be able to send upstream: its own Authorization and Proxy-Authorization,
    /// Forwarded and X-Forwarded-* (the proxy sets its own), the header the injector writes, and every header
    /// the client names in Connection (hop-by-hop by the client's own declaration), and the method and URL override
    /// headers (<see cref="RouteSecurity.OverrideHeaders"/>) the route does not keep.
    /// </summary>
    internal static void StripInbound(IHeaderDictionary headers, IReadOnlyList<string>? injected, string[]? overrides = null)
    {
        if (overrides is not null)
        {
            foreach (var name in overrides)
            {
                headers.Remove(name);
            }
        }
        var connection = headers.Connection;
        if (!StringValues.IsNullOrEmpty(connection))
        {
            foreach (var value in connection)
            {
                foreach (var token in (value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    // Upgrade stays: the forwarder needs it to forward a WebSocket upgrade, and drops it itself
                    // (as hop-by-hop) from any request it does not upgrade.
                    if (!token.Equals("Upgrade", StringComparison.OrdinalIgnoreCase))
                    {
                        headers.Remove(token);
                    }
                }
            }
        }
        headers.Remove("Authorization");
        headers.Remove("Proxy-Authorization");
        headers.Remove("Forwarded");
        List<string>? forwarded = null;
        foreach (var key in headers.Keys)
        {
            if (key.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase))
            {
                (forwarded ??= []).Add(key);
            }
        }
        if (forwarded is not null)
        {
            foreach (var key in forwarded)
            {
                headers.Remove(key);
            }
        }
        if (injected is not null)
        {
            foreach (var name in injected)
            {
                headers.Remove(name);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2202, Level = LogLevel.Warning, Message = "Route {Route}: the upstream's response carried the injected credential; {Count} cop(ies) masked in the {Where}")]
        public static partial void Redacted(ILogger logger, string route, int count, string where);

        [LoggerMessage(EventId = 2203, Level = LogLevel.Debug, Message = "Route {Route}: a compressed response body was passed through without scanning it for the injected credential")]
        public static partial void BodyNotScanned(ILogger logger, string route);
    }
}
