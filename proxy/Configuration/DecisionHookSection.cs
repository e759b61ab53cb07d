using System.Collections.Frozen;
using SecretlessProxy.Hooks;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>decisionHook</c>: the OPA-style data API asked after the policy allowed a call.</summary>
internal static class DecisionHookSection
{
    public static DecisionHookSettings? Compile(ConfigDocument document, ConfigErrorList errors, IReadOnlyList<string> routeIds)
    {
        if (ConfigSections.Optional(document, "decisionHook", ["url", "path", "routes", "timeout", "cacheTtl", "onError"], errors) is not { } section)
        {
            return null;
        }
        Uri? endpoint = null;
        var urlText = ConfigSections.Value(section, "url");
        if (urlText is null)
        {
            errors.Add(section.Path + ":url", "is required", "give the hook's base URL, e.g. url: http://127.0.0.1:8181 (OPA's default port)");
        }
        else if (!Uri.TryCreate(urlText, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(url.UserInfo) || url.Query.Length > 0)
        {
            errors.Add(section.Path + ":url", $"'{urlText}' is not an http(s) base URL without user info or query", "write e.g. url: http://127.0.0.1:8181");
        }
        else
        {
            var dataPath = ConfigSections.Value(section, "path") ?? "";
            if (dataPath.Length == 0 || dataPath.Split('/').Any(segment => segment.Length == 0 || !segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
            {
                errors.Add(section.Path + ":path", dataPath.Length == 0 ? "is required" : $"'{dataPath}' is not a data path", "write the policy's package path with '/', e.g. path: secretless/allow (asked as POST /v1/data/secretless/allow)");
            }
            else
            {
                endpoint = new Uri(url, url.AbsolutePath.TrimEnd('/') + "/v1/data/" + dataPath);
            }
        }
        FrozenSet<string>? routes = null;
        if (section.GetSection("routes").Exists())
        {
            var list = new List<string>();
            foreach (var entry in ConfigSections.Items(section.GetSection("routes")))
            {
                var route = entry.Value?.Trim() ?? "";
                if (route == "*")
                {
                    list.AddRange(routeIds);
                }
                else if (routeIds.FirstOrDefault(r => r.Equals(route, StringComparison.OrdinalIgnoreCase)) is { } known)
                {
                    list.Add(known);
                }
                else
                {
                    errors.Add(entry.Path, $"names route '{route}', which is not defined under ReverseProxy.Routes", KeySuggestion.Fix(route, routeIds, "routes"));
                }
            }
            routes = list.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        }
        var timeout = PostureSection.Duration(section, "timeout", DecisionHookSettings.DefaultTimeout, TimeSpan.FromMilliseconds(10), errors);
        var cacheTtl = ConfigSections.Value(section, "cacheTtl") is "0" or "0s" ? TimeSpan.Zero
            : PostureSection.Duration(section, "cacheTtl", DecisionHookSettings.DefaultCacheTtl, TimeSpan.FromMilliseconds(1), errors);
        var failOpen = false;
        if (ConfigSections.Value(section, "onError") is { } onError)
        {
            if (onError.Equals("allow", StringComparison.OrdinalIgnoreCase))
            {
                failOpen = true;
            }
            else if (!onError.Equals("deny", StringComparison.OrdinalIgnoreCase))
            {
                errors.Add(section.Path + ":onError", $"'{onError}' is not deny or allow", "write onError: deny (the default: a hook that fails refuses the call) or onError: allow (the policy's allow stands)");
            }
        }
        return endpoint is null ? null : new DecisionHookSettings(endpoint, routes, timeout, cacheTtl, failOpen);
    }
}
