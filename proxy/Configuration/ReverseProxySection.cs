using System.Collections.Frozen;
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
    public const string KeepHeadersMetadataKey = "KeepHeaders";
    public const string RedactBodyMetadataKey = "RedactResponseBody";
    public const string RedactBodyBytesMetadataKey = "RedactResponseBodyBytes";

    /// <summary>Route metadata for forward-proxy listeners: <c>intercept</c> (the default) or <c>passthrough</c> (an opaque tunnel).</summary>
    public const string ForwardMetadataKey = "Forward";
    public const string ForwardIntercept = "intercept";
    public const string ForwardPassthrough = "passthrough";

    /// <summary>Cluster metadata: the client certificate the cluster presents to its destinations (<c>proxy-svid</c>).</summary>
    public const string ClientCertificateMetadataKey = "ClientCertificate";
    public const string ProxySvid = "proxy-svid";

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
            cluster = cluster with { ClusterId = child.Key, Destinations = BindDestinations(child.GetSection("Destinations"), errors) ?? cluster.Destinations };
            foreach (var exception in await validator.ValidateClusterAsync(cluster))
            {
                errors.Add(child.Path, exception.Message, "see YARP's cluster configuration reference for this key");
            }
            if (cluster.Metadata?.GetValueOrDefault(ClientCertificateMetadataKey) is { } presented && !string.Equals(presented.Trim(), ProxySvid, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add(child.Path + ":Metadata:" + ClientCertificateMetadataKey, $"'{presented}' is not a client certificate a cluster can present",
                    "write ClientCertificate: proxy-svid (the proxy's own SVID); a certificate of its own goes in a client-certificate credential named by the route's Credential");
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
            var forward = route.Metadata?.GetValueOrDefault(ForwardMetadataKey)?.Trim();
            var passthrough = string.Equals(forward, ForwardPassthrough, StringComparison.OrdinalIgnoreCase);
            if (forward is not null && !passthrough && !string.Equals(forward, ForwardIntercept, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add(child.Path + ":Metadata:" + ForwardMetadataKey, $"'{forward}' is not a forward mode", "write Forward: intercept (TLS intercepted, credential injected; the default) or Forward: passthrough (an opaque tunnel)");
            }
            if (passthrough)
            {
                CheckPassthrough(route, child.Path, errors);
            }
            else if (route.ClusterId is null)
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
            CheckSecurityMetadata(route, child.Path, errors);
            McpRouteSettings.Compile(route, child.Path, errors);
            routes.Add(route);
        }
        // A host is either tunnelled opaquely or intercepted, never both (which would make the tunnel's kind depend on order).
        var intercepted = routes.Where(r => !IsPassthrough(r)).SelectMany(r => r.Match.Hosts ?? []).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var route in routes.Where(IsPassthrough))
        {
            foreach (var host in (route.Match.Hosts ?? []).Where(intercepted.Contains))
            {
                errors.Add($"ReverseProxy:Routes:{route.RouteId}:Match:Hosts", $"'{host}' is also named by an intercepting route", "name each host in one kind of route: pass-through or intercepting");
            }
        }
        return new Result(routes, clusters);
    }

    /// <summary>
    /// The clusters with <c>ClientCertificate: proxy-svid</c>, each with where the proxy's SVID comes from: the SPIFFE
    /// Workload API when <c>spiffe.workloadApi</c> is configured (kept current as it rotates), else the certificate the
    /// proxy's https listeners serve (reloaded with its files), which must then be one certificate.
    /// </summary>
    public static Dictionary<string, Listeners.TlsMaterial> ClientCertificates(IEnumerable<ClusterConfig> clusters, IReadOnlyList<Listeners.ListenerSettings> listeners, Identity.IX509Source? workloadApi, ConfigErrorList errors)
    {
        var result = new Dictionary<string, Listeners.TlsMaterial>(StringComparer.OrdinalIgnoreCase);
        foreach (var cluster in clusters.Where(c => c.Metadata?.ContainsKey(ClientCertificateMetadataKey) == true))
        {
            var path = $"ReverseProxy:Clusters:{cluster.ClusterId}:Metadata:{ClientCertificateMetadataKey}";
            if (workloadApi is not null)
            {
                result[cluster.ClusterId] = new Listeners.TlsMaterial(null, null, workloadApi);
                continue;
            }
            var served = listeners.Where(l => l.IsHttps && l.Role != Listeners.ListenerRole.Admin).ToList();
            if (served.Count == 0)
            {
                errors.Add(path, "names the proxy's SVID, but the proxy has none: no https listener serves a certificate and spiffe.workloadApi is not set",
                    "configure spiffe.workloadApi (the SVID from the SPIRE agent), or an https listener with its certificate");
                continue;
            }
            // Offline (validate --offline) certificate files are not read: nothing to compare.
            var loaded = served.Where(l => l.Tls is not null).GroupBy(l => l.Tls!.Certificate.TargetCertificate.Thumbprint, StringComparer.Ordinal).ToList();
            if (loaded.Count > 1)
            {
                errors.Add(path, $"names the proxy's SVID, but its https listeners serve {loaded.Count} different certificates ({string.Join(", ", loaded.Select(g => g.First().Name))})",
                    "serve one certificate on every https listener, or take the SVID from spiffe.workloadApi");
            }
            else if (loaded.Count == 1)
            {
                result[cluster.ClusterId] = loaded[0].First().Tls!;
            }
        }
        return result;
    }

    /// <summary>
    /// A pass-through route opens opaque tunnels to the hosts it names: it needs hosts, and nothing that only an
    /// intercepted request could use (a credential, a path, a cluster: the tunnel goes to the host the client named,
    /// as resolved by the proxy).
    /// </summary>
    /// <summary>Whether a route is a pass-through one (<c>Metadata: { Forward: passthrough }</c>).</summary>
    public static bool IsPassthrough(RouteConfig route) =>
        route?.Metadata?.GetValueOrDefault(ForwardMetadataKey) is { } mode && string.Equals(mode.Trim(), ForwardPassthrough, StringComparison.OrdinalIgnoreCase);

    private static void CheckPassthrough(RouteConfig route, string path, ConfigErrorList errors)
    {
        if (route.Match.Hosts is not { Count: > 0 })
        {
            errors.Add(path + ":Match:Hosts", "is required for a pass-through route", "name the hosts (and ports other than 443) the tunnel may reach, e.g. Hosts: [git.example.com]");
        }
        if (!string.IsNullOrEmpty(route.Match.Path))
        {
            errors.Add(path + ":Match:Path", "does not apply to a pass-through route: the proxy does not see requests inside an opaque tunnel", "remove it");
        }
        if (route.Metadata?.GetValueOrDefault(CredentialMetadataKey) is { Length: > 0 })
        {
            errors.Add(path + ":Metadata:" + CredentialMetadataKey, "does not apply to a pass-through route: nothing is injected into an opaque tunnel", "remove it, or make the route intercepting (Forward: intercept) to inject");
        }
        if (route.ClusterId is not null)
        {
            errors.Add(path + ":ClusterId", "does not apply to a pass-through route: the tunnel goes to the host the client named", "remove it");
        }
    }

    private static void CheckSecurityMetadata(RouteConfig route, string path, ConfigErrorList errors)
    {
        if (route.Metadata?.GetValueOrDefault(KeepHeadersMetadataKey) is { } kept)
        {
            foreach (var name in kept.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!RouteSecurity.OverrideHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
                {
                    errors.Add(path + ":Metadata:" + KeepHeadersMetadataKey, $"names '{name}', which is not one of the override headers the proxy strips",
                        $"list some of {string.Join(", ", RouteSecurity.OverrideHeaders)} (comma-separated); other headers are forwarded anyway");
                }
            }
        }
        if (route.Metadata?.GetValueOrDefault(RedactBodyMetadataKey) is { } redact && !bool.TryParse(redact, out _))
        {
            errors.Add(path + ":Metadata:" + RedactBodyMetadataKey, $"'{redact}' is not true or false", "write RedactResponseBody: \"true\" or \"false\"");
        }
        if (route.Metadata?.GetValueOrDefault(RedactBodyBytesMetadataKey) is { } bytes
            && (!long.TryParse(bytes, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1))
        {
            errors.Add(path + ":Metadata:" + RedactBodyBytesMetadataKey, $"'{bytes}' is not a positive whole number of bytes", $"e.g. RedactResponseBodyBytes: \"{RouteSecurity.DefaultRedactBodyScanBytes}\"");
        }
    }

    /// <summary>The route's <see cref="RouteSecurity"/> (metadata already validated).</summary>
    public static RouteSecurity Security(RouteConfig route, bool redactByDefault)
    {
        var metadata = route.Metadata;
        if (metadata is null || (!metadata.ContainsKey(KeepHeadersMetadataKey) && !metadata.ContainsKey(RedactBodyMetadataKey) && !metadata.ContainsKey(RedactBodyBytesMetadataKey)))
        {
            return redactByDefault ? RouteSecurity.RedactingDefault : RouteSecurity.Default;
        }
        var kept = (metadata.GetValueOrDefault(KeepHeadersMetadataKey) ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var redact = metadata.GetValueOrDefault(RedactBodyMetadataKey) is { } r ? bool.Parse(r) : redactByDefault;
        var scan = metadata.GetValueOrDefault(RedactBodyBytesMetadataKey) is { } b ? long.Parse(b, System.Globalization.CultureInfo.InvariantCulture) : RouteSecurity.DefaultRedactBodyScanBytes;
        return new RouteSecurity(kept.ToFrozenSet(StringComparer.OrdinalIgnoreCase), redact, scan);
    }

    /// <summary>
    /// A cluster's destinations, each bound on its own. The generic binder fills a dictionary of records the same way
    /// under the JIT, but in the Native AOT build it leaves one of complex values empty; binding each destination works
    /// in both.
    /// </summary>
    private static Dictionary<string, DestinationConfig>? BindDestinations(IConfigurationSection section, ConfigErrorList errors)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            return null;
        }
        var destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase);
        foreach (var child in children)
        {
            if (Bind<DestinationConfig>(child, errors) is { } destination)
            {
                destinations[child.Key] = destination;
            }
        }
        return destinations;
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
