using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.Refusals;
using Yarp.ReverseProxy.Forwarder;

namespace SecretlessProxy.Pipeline;

/// <summary>Turns a failed forward (upstream down, timed out) into a problem+json 502/504 and records it.</summary>
internal sealed class UpstreamErrorMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is null || error.Error == ForwarderError.None)
        {
            return;
        }
        var record = context.Features.GetRequiredFeature<DecisionRecord>();
        record.Outcome = DecisionRecord.Error;
        if (error.Error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled)
        {
            record.Reason = "client_canceled";
            return;
        }
        if (FindInjectionFailure(error.Exception) is { } injection)
        {
            // The signing injection runs inside the forwarder's client; its failure is ours, not the upstream's.
            await Problem.WriteAsync(context, RefusalCatalog.CredentialInvalid,
                $"the proxy could not put credential '{injection.CredentialName}' on the request for route '{record.Route}' ({injection.Reason}); the upstream was not called",
                route: record.Route, credential: injection.CredentialName);
            return;
        }
        if (IsTlsVerificationFailure(error.Exception))
        {
            var destination = context.GetReverseProxyFeature().ProxiedDestination?.Model.Config.Address;
            var host = Uri.TryCreate(destination, UriKind.Absolute, out var uri) ? uri.Authority : "the upstream";
            await Problem.WriteAsync(context, RefusalCatalog.UpstreamUnavailable,
                $"the certificate of {host} (route '{record.Route}') does not verify against the system roots or the forward proxy's upstreamCaFile; nothing was sent", route: record.Route);
            return;
        }
        var timedOut = error.Error == ForwarderError.RequestTimedOut;
        // Written even when the response has started (then only the audit fields are): the record names the failure.
        await Problem.WriteAsync(context, timedOut ? RefusalCatalog.UpstreamTimeout : RefusalCatalog.UpstreamUnavailable,
            $"the upstream of route '{record.Route}' could not be reached ({error.Error})", route: record.Route);
    }

    private static bool IsTlsVerificationFailure(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is System.Security.Authentication.AuthenticationException)
            {
                return true;
            }
        }
        return false;
    }

    private static CredentialInjectionException? FindInjectionFailure(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is CredentialInjectionException injection)
            {
                return injection;
            }
        }
        return null;
    }
}
