using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Admin;
using SecretlessProxy.Audit;
using SecretlessProxy.Forwarding;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// First stop of every request: admin listener requests go to the admin endpoints; proxy requests must carry
/// a verified workload identity (401 otherwise) and an unambiguous path (400 otherwise). Writes the request's
/// decision record when it ends, whatever happened.
/// </summary>
internal sealed partial class EntryMiddleware(RequestDelegate next, AdminEndpoints admin, WorkloadGrantEndpoints workloadGrants, RequestAudit requests, Configuration.ConfigManager configs, TimeProvider time,
    Identity.Bearer.BearerTokenAttestor bearerTokens, Federation.BundleEndpoint bundleEndpoint, ILogger<EntryMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var listener = context.Features.Get<IListenerFeature>();
        if (listener is not null && configs.Current is { BundleEndpoint: { } bundleSettings } current
            && Federation.BundleEndpoint.Handles(bundleSettings, listener.Name, context.Request.Path))
        {
            // The trust domain's bundle is public: served before any identity is asked for.
            await bundleEndpoint.HandleAsync(context, bundleSettings, OwnBundles(current, bundleSettings.TrustDomain));
            return;
        }
        if (listener is null || listener.Role == ListenerRole.Admin)
        {
            await HandleAdminAsync(context);
            return;
        }

        var record = new DecisionRecord
        {
            StartedAt = System.Diagnostics.Stopwatch.GetTimestamp(),
            Time = time.GetUtcNow(),
            RequestId = context.TraceIdentifier,
            TraceId = TraceIds.Of(context),
            Listener = listener.Name,
            Method = context.Request.Method,
        };
        context.Features.Set(record);
        context.Features.Set<IRefusalSink>(record);
        // One config for the whole request: every stage reads this snapshot, never the manager's current one.
        var config = configs.Current;
        context.Features.Set(config);
        try
        {
            var feature = context.Features.Get<IWorkloadIdentityFeature>();
            var before = feature?.Verification.Identity;
            var settings = config.Listener(listener.Name);
            if (settings?.Attestor is { } attestor)
            {
                record.ListenerAttestation = AttestationKinds.Name(attestor);
            }
            if (feature is UnixPeerConnection { Process: { } peer })
            {
                record.Peer = peer;
            }
            var lapsed = false;
            Attestation verification;
            if (settings?.Bearer is { } bearer && context.Request.Headers.TryGetValue(bearer.Header, out var presented))
            {
                // A token in the header names the caller for this request; it is never forwarded upstream.
                context.Request.Headers.Remove(bearer.Header);
                record.ListenerAttestation = AttestationKinds.Name(AttestationKind.Jwt);
                verification = !settings.IsHttps && settings.UnixSocketPath is null && !IsLoopback(context.Connection.RemoteIpAddress)
                    ? Identity.Bearer.BearerTokenAttestor.InsecureTransport(context.Connection.RemoteIpAddress?.ToString() ?? "unknown")
                    : await bearerTokens.AttestAsync(bearer, presented, context.RequestAborted);
                context.Features.Set<IWorkloadIdentityFeature>(new Identity.Bearer.BearerAttestation(verification));
            }
            else
            {
                verification = feature?.Current(new AttestationScope(config, record.Time, settings?.Tls?.Bundles, config.LocalIdentities,
                    config.LocalIdentities.Named(settings?.IdentityName)), out lapsed)
                    ?? (settings?.Bearer is { } tokens ? Identity.Bearer.BearerTokenAttestor.Missing(tokens) : SvidConnection.NoCertificate);
                if (verification.Identity is null && settings?.Bearer is { } expected && verification.Reason == RefusalCatalog.NoCertificate.Reason)
                {
                    // An https listener that also takes tokens: neither was presented.
                    verification = Identity.Bearer.BearerTokenAttestor.Missing(expected);
                }
            }
            if (lapsed)
            {
                Log.SvidNoLongerValid(logger, listener.Name, before!.SpiffeId.Value, verification.Reason!, verification.Detail!);
                // The caller must connect again (and present a valid SVID) (HTTP/1.1: Connection: close; HTTP/2: GOAWAY).
                context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
            }
            var activity = Telemetry.Tracing.Source.StartActivity("secretless.identity");
            if (activity is not null)
            {
                activity.SetTag("secretless.listener", listener.Name);
                activity.SetTag("secretless.identity", verification.Identity?.SpiffeId.Value);
                activity.SetTag("secretless.outcome", verification.Identity is null ? verification.Reason ?? "client_certificate_required" : "verified");
                activity.Dispose();
            }
            if (verification.Identity is null)
            {
                await Problem.WriteAsync(context, RefusalCatalog.Get(verification.Reason ?? RefusalCatalog.NoCertificate.Reason),
                    verification.Detail ?? "no verified X.509-SVID on this connection");
                return;
            }
            record.Caller = verification.Identity;

            var rawTarget = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
            var tunnel = context.Features.Get<ITunnelFeature>();
            var absolute = tunnel is null && settings?.ForwardProxy is not null && PathGuard.IsAbsoluteHttp(rawTarget);
            if (tunnel is not null)
            {
                // Host pinning: the route, the decision and the credential follow the CONNECT authority, so a request
                // naming another host inside the tunnel is refused.
                var requestHost = context.Request.Host;
                if (!string.Equals(requestHost.Host.Trim('[', ']'), tunnel.Host, StringComparison.OrdinalIgnoreCase) || (requestHost.Port ?? 443) != tunnel.Port)
                {
                    await Problem.WriteAsync(context, RefusalCatalog.TunnelHostMismatch,
                        $"the request names host '{requestHost.Value}', but the tunnel was opened to {tunnel.Authority}", identity: record.Identity);
                    return;
                }
                context.Features.Set(new ForwardTarget(tunnel.Host, tunnel.Port, 443));
            }
            if ((absolute ? PathGuard.CheckAbsoluteHttp(rawTarget) : PathGuard.Check(rawTarget)) is { } refusal)
            {
                Log.PathRefused(logger, verification.Identity.SpiffeId.Value, refusal.Reason);
                await Problem.WriteAsync(context, RefusalCatalog.Get(refusal.Reason),
                    refusal.Detail + "; such a path is refused rather than forwarded", identity: record.Identity);
                return;
            }

            if (absolute)
            {
                var host = context.Request.Host.Host.Trim('[', ']');
                var port = context.Request.Host.Port ?? 80;
                if (!ForwardHosts.AnyRouteNames(config.Routes, host, port, 80))
                {
                    await Problem.WriteAsync(context, RefusalCatalog.ForwardHostNotAllowed,
                        $"no route names {host}:{port} (a route's Match.Hosts lists the hosts, and ports other than 80, the forward proxy serves)", identity: record.Identity);
                    return;
                }
                context.Features.Set(new ForwardTarget(host, port, 80));
            }

            record.IdentityDoneAt = System.Diagnostics.Stopwatch.GetTimestamp();
            if (tunnel is null && !absolute && config.Policy.TakesGrantRequests && context.Request.Path.Value is { } grantPath && WorkloadGrantEndpoints.Handles(grantPath))
            {
                // The proxy's own grant API for the attested caller (requests, its grants, ending one early): never routed.
                await workloadGrants.HandleAsync(context, verification.Identity, grantPath);
                return;
            }
            await next(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            record.Outcome = DecisionRecord.Error;
            record.Reason = "client_canceled";
            Log.ClientCanceled(logger, context.TraceIdentifier);
        }
        catch (Exception ex)
        {
            Log.Unhandled(logger, context.TraceIdentifier, ex.GetType().Name);
            await Problem.WriteAsync(context, RefusalCatalog.InternalError,
                "the proxy failed to handle the call; the request id identifies it in the proxy's logs");
        }
        finally
        {
            record.Status = context.Response.StatusCode;
            record.CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            requests.Completed(record);
        }
    }

    private static bool IsLoopback(System.Net.IPAddress? address) =>
        address is not null && System.Net.IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    /// <summary>The first listener's bundles that hold <paramref name="trustDomain"/> (files or the Workload API), or null.</summary>
    private static TrustBundleSet? OwnBundles(Configuration.ProxyConfig config, string trustDomain) =>
        config.Listeners.Select(l => l.Tls?.Bundles).FirstOrDefault(b => b is not null && b.TryGetBundle(trustDomain, out _));

    /// <summary>The admin API, with the proxy path's guard: a failure is a 500 problem and a log line, never an unhandled exception.</summary>
    private async Task HandleAdminAsync(HttpContext context)
    {
        try
        {
            await admin.HandleAsync(context);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            Log.ClientCanceled(logger, context.TraceIdentifier);
        }
        catch (Exception ex)
        {
            Log.AdminUnhandled(logger, context.Request.Path.Value ?? "", context.TraceIdentifier, ex.GetType().Name);
            await Problem.WriteAsync(context, RefusalCatalog.InternalError,
                "the admin API failed to handle the call; the request id identifies it in the proxy's logs");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2004, Level = LogLevel.Warning, Message = "A connection on listener {Listener} from {Identity} no longer has a valid SVID or identity ({Reason}: {Detail}); its requests are refused until it reconnects")]
        public static partial void SvidNoLongerValid(ILogger logger, string listener, string identity, string reason, string detail);

        [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Refused path from {Identity}: {Reason}")]
        public static partial void PathRefused(ILogger logger, string identity, string reason);

        [LoggerMessage(EventId = 2002, Level = LogLevel.Debug, Message = "Client canceled request {RequestId}")]
        public static partial void ClientCanceled(ILogger logger, string requestId);

        // Only the exception type: messages of third-party exceptions are not guaranteed free of request data.
        [LoggerMessage(EventId = 2005, Level = LogLevel.Error, Message = "Unhandled {ExceptionType} in admin request {RequestId} to {Path}")]
        public static partial void AdminUnhandled(ILogger logger, string path, string requestId, string exceptionType);

        [LoggerMessage(EventId = 2003, Level = LogLevel.Error, Message = "Unhandled {ExceptionType} in request {RequestId}")]
        public static partial void Unhandled(ILogger logger, string requestId, string exceptionType);
    }
}
