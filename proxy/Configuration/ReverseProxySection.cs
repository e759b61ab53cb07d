using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>ReverseProxy</c> in YARP's own shape (Routes, Clusters), validated by YARP's own validator, plus
/// our route metadata keys: <c>Credential</c> (a name under <c>credentials</c>) and <c>Policy</c> (policy rule
/// names, comma-separated, that apply to the route besides those that list it).
/// </summary>
internal static partial class ReverseProxySection
{
    public const string CredentialMetadataKey = "Credential";
    public const string PolicyMetadataKey = "Policy";


    public sealed record Result(List<RouteConfig> Routes, List<ClusterConfig> Clusters);

    public static async Task<Result> CompileAsync(ConfigDocument document, ConfigErrorList errors, IConfigValidator validator, ICollection<string> credentialNames)
    {
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        var section = document.Root.GetSection("ReverseProxy");
        ConfigSections.CheckKnownKeys(section, ["Routes", "Clusters"], errors, "ReverseProxy");
        if (!section.GetSection("Routes").GetChildren().Any())
        {
            errors.Warn("ReverseProxy", "no route is defined, so every call gets 404", "add routes under ReverseProxy.Routes (YARP's route shape)");
        }

        foreach (var child in section.GetSection("Clusters").GetChildren())
        {
            ConfigShapeChecker.Check(child, typeof(ClusterConfig), errors, "a YARP cluster");
            // YARP's own loader accepts "2" for a version; the generic binder wants "2.0".
            var version = child.GetSection("HttpRequest:Version");
            if (version.Value is { } v && IntegerVersion().IsMatch(v))
            {
                version.Value = v + ".0";
            }
            var cluster = Bind<ClusterConfig>(child, errors);
            if (cluster is null)
            {
                continue;
            }
            cluster = cluster with { ClusterId = child.Key };
            foreach (var exception in await validator.ValidateClusterAsync(cluster))
            {
                errors.Add(child.Path, exception.Message, "see YARP's cluster configuration reference for this key");
            }
            clusters.Add(cluster);
        }

        var clusterIds = section.GetSection("Clusters").GetChildren().Select(c => c.Key).ToList();
        foreach (var child in section.GetSection("Routes").GetChildren())
        {
            ConfigShapeChecker.Check(child, typeof(RouteConfig), errors, "a YARP route");
            var route = Bind<RouteConfig>(child, errors);
            if (route is null)
            {
                continue;
            }
            route = route with { RouteId = child.Key };
            foreach (var exception in await validator.ValidateRouteAsync(route))
            {
                errors.Add(child.Path, exception.Message, "see YARP's route configuration reference for this key");
            }
            if (route.ClusterId is null)
            {
                errors.Add(child.Path + ":ClusterId", "is required", KeySuggestion.Fix("", clusterIds, "clusters"));
            }
            else if (!clusterIds.Contains(route.ClusterId, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add(child.Path + ":ClusterId", $"names cluster '{route.ClusterId}', which is not defined under ReverseProxy.Clusters", KeySuggestion.Fix(route.ClusterId, clusterIds, "clusters"));
            }
            if (route.Metadata?.GetValueOrDefault(CredentialMetadataKey) is { Length: > 0 } credential && !credentialNames.Contains(credential, StringComparer.OrdinalIgnoreCase))
            {
                errors.Add(child.Path + ":Metadata:" + CredentialMetadataKey, $"names credential '{credential}', which is not defined under credentials", KeySuggestion.Fix(credential, credentialNames, "credentials"));
            }
            routes.Add(route);
        }
        return new Result(routes, clusters);
    }

    private static T? Bind<T>(IConfigurationSection section, ConfigErrorList errors)
        where T : class
    {
        try
        {
            return section.Get<T>() ?? throw new InvalidOperationException("it is empty");
        }
        catch (InvalidOperationException ex)
        {
            var inner = ex.InnerException?.Message ?? ex.Message;
            var key = Regex.Match(ex.Message, "at '([^']+)'") is { Success: true } match ? match.Groups[1].Value : section.Path;
            errors.Add(key, $"cannot be read: {inner}", "write the value in the type YARP expects (durations as hh:mm:ss, versions as 1.1, 2.0 or 3.0)");
            return null;
        }
    }

    [GeneratedRegex("^[0-9]$")]
    private static partial Regex IntegerVersion();
}
