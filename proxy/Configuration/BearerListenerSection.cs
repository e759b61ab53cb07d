using Microsoft.Extensions.Configuration;
using SecretlessProxy.Identity.Bearer;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles a listener's <c>bearer: { header, issuers }</c>: where callers put their JWT, and whose tokens count.</summary>
internal static class BearerListenerSection
{
    private static readonly string[] Keys = ["header", "issuers"];

    /// <summary>Headers a token must not travel in: they mean something else to HTTP, or to the proxy's own steps.</summary>
    private static readonly string[] Reserved = ["Host", "Content-Length", "Content-Type", "Transfer-Encoding", "Connection", "Cookie", "Proxy-Authorization", "Upgrade", "TE", "Traceparent"];

    public static BearerSettings? Read(IConfigurationSection listener, ConfigErrorList errors, IReadOnlyDictionary<string, TokenIssuerSettings> issuers, bool applies)
    {
        var section = listener.GetSection("bearer");
        if (!applies)
        {
            errors.Add(section.Path, "applies to an HTTP proxy listener only", "remove it: admin listeners and database gateways identify callers by certificate, socket or loopback");
            return null;
        }
        ConfigSections.CheckKnownKeys(section, Keys, errors, "bearer settings");
        var ok = true;
        var header = ConfigSections.Value(section, "header") ?? "Authorization";
        if (header.Length == 0 || header.Any(c => c <= ' ' || c >= 127 || "()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal)))
        {
            errors.Add(section.Path + ":header", $"'{header}' is not an HTTP header name", "write e.g. header: Authorization (the default) or header: X-Workload-Token");
            ok = false;
        }
        else if (Reserved.Any(r => r.Equals(header, StringComparison.OrdinalIgnoreCase)))
        {
            errors.Add(section.Path + ":header", $"'{header}' carries something else", "use Authorization (the default) or a header of its own, e.g. X-Workload-Token");
            ok = false;
        }
        var names = ConfigSections.Items(section.GetSection("issuers")).Select(i => i.Value?.Trim() ?? "").Where(i => i.Length > 0).ToList();
        if (names.Count == 0)
        {
            errors.Add(section.Path + ":issuers", "is required", "name the tokenIssuers whose tokens this listener accepts, e.g. issuers: [kubernetes]");
            ok = false;
        }
        var list = new List<TokenIssuerSettings>();
        foreach (var name in names)
        {
            if (issuers.TryGetValue(name, out var issuer))
            {
                if (list.Any(i => string.Equals(i.Issuer, issuer.Issuer, StringComparison.Ordinal)))
                {
                    errors.Add(section.Path + ":issuers", $"names two token issuers with the same issuer '{issuer.Issuer}'", "keep one: a token's iss picks its issuer");
                    ok = false;
                }
                list.Add(issuer);
            }
            else
            {
                errors.Add(section.Path + ":issuers", $"'{name}' is not a token issuer", KeySuggestion.Fix(name, issuers.Keys, "tokenIssuers"));
                ok = false;
            }
        }
        return ok ? new BearerSettings(header, list) : null;
    }
}
