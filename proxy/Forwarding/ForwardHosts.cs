using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Forwarding;

/// <summary>
/// Which hosts and ports a forward proxy serves: those routes name in <c>Match.Hosts</c>. An entry with a port
/// (<c>api.example.com:8443</c>) allows that port; one without allows the scheme's default port (443 for CONNECT,
/// 80 for an absolute-form <c>http://</c> request). <c>*.example.com</c> names every subdomain of example.com.
/// </summary>
public static class ForwardHosts
{
    /// <summary>Whether some route names <paramref name="host"/> on <paramref name="port"/>.</summary>
    public static bool AnyRouteNames(IEnumerable<RouteConfig> routes, string host, int port, int defaultPort)
    {
        ArgumentNullException.ThrowIfNull(routes);
        foreach (var route in routes)
        {
            if (Names(route.Match.Hosts, host, port, defaultPort))
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
