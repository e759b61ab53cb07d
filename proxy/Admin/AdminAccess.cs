using Microsoft.AspNetCore.Http;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// Who may use the admin API. A loopback http admin listener is trusted (only this host reaches it). An https
/// admin listener requires a verified X.509-SVID whose SPIFFE ID its <c>allow</c> list names: no SVID answers 401,
/// another identity 403. Health, readiness and the public JWKS stay open to any TLS client (probes, verifiers).
/// </summary>
internal static class AdminAccess
{
    public static bool IsPublic(string path) => path is "/healthz" or "/readyz" or "/.well-known/jwks.json";

    /// <summary>Null when the caller may proceed; else the refusal already written.</summary>
    public static async Task<bool> CheckAsync(HttpContext context, ListenerSettings? listener)
    {
        if (listener is not { IsHttps: true, AdminAllow: { } allow })
        {
            return true;
        }
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

    /// <summary>The admin caller's SPIFFE ID on an mTLS admin listener, else null.</summary>
    public static string? Caller(HttpContext context) => context.Features.Get<IWorkloadIdentityFeature>()?.Verification.Identity?.SpiffeId.Value;
}
