using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Forwarding;

/// <summary>
/// Which hosts and ports a forward proxy serves: those routes name in <c>Match.Hosts</c>. An entry with a port
/// (<c>api.example.com:8443</c>) allows that port; one without allows the scheme's default port (443 for CONNECT,
/// 80 for an absolute-form <c>http://</c> request). <c>*.example.com</c> names every subdomain of example.com.
/// </summary>
public static class ForwardHosts
{
    /// <summary>Whether some intercepting route (not a pass-through one) names <paramref name="host"/> on <paramref name="port"/>.</summary>
    public static bool AnyRouteNames(IEnumerable<RouteConfig> routes, string host, int port, int defaultPort)
    {
        ArgumentNullException.ThrowIfNull(routes);
        foreach (var route in routes)
        {
            if (!IsPassthrough(route) && Names(route.Match.Hosts, host, port, defaultPort))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The pass-through route (<c>Metadata: { Forward: passthrough }</c>) naming the host and port, if any: one naming
    /// the host exactly wins over one naming it by a wildcard.
    /// </summary>
    public static RouteConfig? PassthroughRoute(IEnumerable<RouteConfig> routes, string host, int port)
    {
        ArgumentNullException.ThrowIfNull(routes);
        RouteConfig? wildcard = null;
        foreach (var route in routes)
        {
            if (!IsPassthrough(route) || !Names(route.Match.Hosts, host, port, 443))
            {
                continue;
            }
            if (route.Match.Hosts!.Any(entry => string.Equals(Split(entry).Host, host, StringComparison.OrdinalIgnoreCase)))
            {
                return route;
            }
            wildcard ??= route;
        }
        return wildcard;
    }

    /// <summary>Whether a route is an opaque tunnel: no interception, no injection.</summary>
    public static bool IsPassthrough(RouteConfig route) => Configuration.ReverseProxySection.IsPassthrough(route);

    /// <summary>Whether one of the route's <c>Match.Hosts</c> entries is exactly this address (so a tunnel to it was asked for by name).</summary>
    public static bool NamesAddress(RouteConfig route, System.Net.IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(address);
        foreach (var entry in route.Match.Hosts ?? [])
        {
            if (System.Net.IPAddress.TryParse(Split(entry).Host, out var named) && named.Equals(address))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether one of <paramref name="entries"/> (a route's <c>Match.Hosts</c>) names the host and port.</summary>
    public static bool Names(IReadOnlyList<string>? entries, string host, int port, int defaultPort)
    {
        if (entries is null)
        {
            return false;
        }
        foreach (var entry in entries)
        {
            var (entryHost, entryPort) = Split(entry);
            if ((entryPort ?? defaultPort) != port)
            {
                continue;
            }
            if (entryHost.StartsWith("*.", StringComparison.Ordinal))
            {
                if (host.Length > entryHost.Length - 1 && host.EndsWith(entryHost[1..], StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
            else if (string.Equals(entryHost, host, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    private static (string Host, int? Port) Split(string entry)
    {
        var text = entry.Trim();
        var colon = text.LastIndexOf(':');
        var bracket = text.LastIndexOf(']');
        if (colon > bracket && int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port))
        {
            return (text[..colon].Trim('[', ']'), port);
        }
        return (text.Trim('[', ']'), null);
    }
}
