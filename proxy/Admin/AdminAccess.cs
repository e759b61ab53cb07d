using System.Globalization;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// Who may use the admin API. An https admin listener requires a verified X.509-SVID its <c>allow</c> list names; an
/// admin socket (<c>unix:</c>) requires a caller whose uid or group its <c>allow</c> list names (the kernel's peer
/// credentials); a plain loopback listener serves only health, readiness, metrics and the JWKS, because in a sidecar
/// every local process, the application too, reaches it (unless <c>unsafeOpenLoopback: true</c>). Health, readiness
/// and the public JWKS stay open everywhere (probes, verifiers).
/// </summary>
internal static class AdminAccess
{
    public const string OpenLoopbackCaller = "unauthenticated-loopback";

    public static bool IsPublic(string path) => path is "/healthz" or "/readyz" or "/.well-known/jwks.json";

    /// <summary>True when the caller may proceed; else the refusal is already written.</summary>
    public static async Task<bool> CheckAsync(HttpContext context, ListenerSettings? listener, string path)
    {
        if (IsPublic(path))
        {
            return true;
        }
        switch (listener)
        {
            case { IsHttps: true, AdminAllow: { } allow }:
                return await CheckSvidAsync(context, allow);
            case { AdminUnixAllow: { } rules }:
                return await CheckPeerAsync(context, rules);
            case { UnsafeOpenLoopback: true }:
                return true;
            default:
                if (path == "/metrics")
                {
                    return true;
                }
                await Problem.WriteAsync(context, RefusalCatalog.AdminUnauthenticated,
                    "this plain loopback admin listener serves only /healthz, /readyz, /metrics and the JWKS: any local process reaches it. Use the admin socket (url: unix:..., allow: [{ uid: 0 }]) or an mTLS admin listener for the rest");
                return false;
        }
    }

    private static async Task<bool> CheckSvidAsync(HttpContext context, IReadOnlyList<SpiffeIdPattern> allow)
    {
        var verification = context.Features.Get<IWorkloadIdentityFeature>()?.Verification;
        if (verification?.Identity is not { } identity)
        {
            await Problem.WriteAsync(context, RefusalCatalog.Get(verification?.Reason ?? RefusalCatalog.NoCertificate.Reason),
                (verification?.Detail ?? "no verified X.509-SVID on this connection") + "; the admin API requires an admin SVID");
            return false;
        }
        foreach (var pattern in allow)
        {
            if (pattern.Matches(identity.SpiffeId))
            {
                return true;
            }
        }
        await Problem.WriteAsync(context, RefusalCatalog.NotAnAdmin,
            $"'{identity.SpiffeId.Value}' is not in the admin listener's allow list", identity: identity.SpiffeId.Value);
        return false;
    }

    private static async Task<bool> CheckPeerAsync(HttpContext context, IReadOnlyList<UnixAdminRule> rules)
    {
        var peer = context.Features.Get<IWorkloadIdentityFeature>() as UnixPeerConnection;
        if (peer?.Process is not { } process)
        {
            var refusal = peer?.Refusal;
            await Problem.WriteAsync(context, RefusalCatalog.Get(refusal?.Reason ?? RefusalCatalog.PeerCredentialsUnavailable.Reason),
                (refusal?.Detail ?? "the caller's peer credentials could not be read") + "; the admin socket requires an admin uid or group");
            return false;
        }
        foreach (var rule in rules)
        {
            if (rule.Matches(process))
            {
                return true;
            }
        }
        await Problem.WriteAsync(context, RefusalCatalog.NotAnAdmin,
            $"uid {process.Uid} (gid {process.Gid}) is not in the admin socket's allow list");
        return false;
    }

    /// <summary>
    /// The authenticated admin (what <c>createdBy</c> and <c>revokedBy</c> record): the SPIFFE ID on an mTLS admin
    /// listener, <c>unix:uid=N</c> on the admin socket, <see cref="OpenLoopbackCaller"/> on an open loopback listener.
    /// </summary>
    public static string Caller(HttpContext context) => context.Features.Get<IWorkloadIdentityFeature>() switch
    {
        UnixPeerConnection { Process: { } process } => "unix:uid=" + process.Uid.ToString(CultureInfo.InvariantCulture),
        { Verification.Identity: { } identity } => identity.SpiffeId.Value,
        _ => OpenLoopbackCaller,
    };
}
