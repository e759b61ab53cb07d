using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Template;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.PolicyChecks;

/// <summary>
/// Which configured route a request would take, as YARP orders them: the routes whose <c>Match</c> (path pattern,
/// methods, hosts) fits, lowest <c>Order</c> first, then the most specific path pattern (ASP.NET Core's inbound
/// precedence). A database is its own route (<c>--route</c> names it).
/// </summary>
internal static class RouteMatch
{
    /// <summary>Every route that fits, the winner first.</summary>
    public static IReadOnlyList<RouteConfig> Candidates(IReadOnlyList<RouteConfig> routes, string method, string path, string? host)
    {
        var fitting = new List<(RouteConfig Route, decimal Precedence)>();
        var pathOnly = new PathString(path.Split('?', 2)[0]);
        foreach (var route in routes)
        {
            var match = route.Match;
            if (match.Methods is { Count: > 0 } methods && !methods.Contains(method, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }
            if (host is not null && match.Hosts is { Count: > 0 } hosts && !hosts.Any(h => HostFits(h, host)))
            {
                continue;
            }
            var template = TemplateParser.Parse(match.Path ?? "/{**catchall}");
            if (!new TemplateMatcher(template, new RouteValueDictionary()).TryMatch(pathOnly, new RouteValueDictionary()))
            {
                continue;
            }
            fitting.Add((route, RoutePrecedence.ComputeInbound(template)));
        }
        return [.. fitting.OrderBy(f => f.Route.Order ?? 0).ThenBy(f => f.Precedence).Select(f => f.Route)];
    }

    private static bool HostFits(string pattern, string host)
    {
        var name = host.Split(':', 2)[0];
        var wanted = pattern.Split(':', 2)[0];
        return wanted.StartsWith("*.", StringComparison.Ordinal)
            ? name.EndsWith(wanted[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(name, wanted, StringComparison.OrdinalIgnoreCase);
    }
}
