using Microsoft.Extensions.Configuration;
using SecretlessProxy.Federation;
using SecretlessProxy.Identity;
using SecretlessProxy.WorkloadApi;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>spiffe</c>: <c>workloadApi</c> makes the SPIFFE Workload API the source of the proxy's own X.509-SVID and
/// of the trust bundles for every https listener without <c>certificate</c> or <c>trustBundles</c> files. The socket is
/// not opened here (validate does not need the agent); the running proxy reports an absent agent in /readyz.
/// <c>federation</c> names foreign trust domains whose bundles are fetched from their bundle endpoints;
/// <c>bundleEndpoint</c> serves the proxy's own trust domain's bundle.
/// </summary>
internal static class SpiffeSection
{
    /// <summary>The variable SPIFFE workloads read the agent's socket from (the SPIFFE Workload Endpoint standard).</summary>
    public const string EndpointVariable = "SPIFFE_ENDPOINT_SOCKET";

    private static readonly string[] Keys = ["workloadApi", "federation", "bundleEndpoint"];
    private static readonly string[] FederationKeys = ["bundleEndpoint", "profile", "endpointSpiffeId", "bootstrapBundle", "caFile", "minRefresh", "maxRefresh"];
    private static readonly string[] BundleEndpointKeys = ["listener", "path", "trustDomain", "refreshHint"];
    private static readonly string[] WorkloadApiKeys = ["socket", "retryMaxDelay"];

    public static WorkloadApiSettings? Compile(ConfigDocument document, ConfigErrorList errors)
    {
        var section = ConfigSections.Optional(document, "spiffe", Keys, errors);
        if (section is null)
        {
            return null;
        }
        var api = section.GetSection("workloadApi");
        if (!api.Exists())
        {
            if (!section.GetSection("federation").Exists() && !section.GetSection("bundleEndpoint").Exists())
            {
                errors.Add(section.Path, "names no source", "add workloadApi: { socket: unix:/run/spire/agent.sock }, federation or bundleEndpoint, or remove spiffe to read certificate and trustBundles files");
            }
            return null;
        }
        ConfigSections.CheckKnownKeys(api, WorkloadApiKeys, errors, "spiffe.workloadApi");
        var text = ConfigSections.Value(api, "socket");
        var path = api.Path + ":socket";
        var origin = "";
        if (text is null && Environment.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } fromEnvironment)
        {
            text = fromEnvironment.Trim();
            origin = $" (from {EndpointVariable})";
        }
        string? socket = null;
        if (text is null)
        {
            errors.Add(api.Path + ":socket", $"is required (and {EndpointVariable} is not set)", "write the SPIRE agent's socket, e.g. socket: unix:/run/spire/agent.sock");
        }
        else if (!text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add(path, $"'{text}'{origin} is not a unix: address (the Workload API is served on a Unix socket here)", "write unix:/absolute/path/to/agent.sock (unix:///path works too)");
        }
        else
        {
            var rest = text["unix:".Length..];
            rest = rest.StartsWith("//", StringComparison.Ordinal) ? rest[2..] : rest;
            if (rest.Length == 0 || rest.Contains('?') || rest.Contains('#'))
            {
                errors.Add(path, $"'{text}'{origin} names no socket file", "write unix:/absolute/path/to/agent.sock");
            }
            else
            {
                // Relative paths start at the config file's folder, as unix: listeners' do.
                socket = Path.GetFullPath(rest, document.Directory);
            }
        }
        var retryMaxDelay = WorkloadApiSettings.DefaultRetryMaxDelay;
        if (ConfigSections.Value(api, "retryMaxDelay") is { } delayText)
        {
            if (Durations.Parse(delayText) is { } delay && delay <= TimeSpan.FromHours(1))
            {
                retryMaxDelay = delay;
            }
            else
            {
                errors.Add(api.Path + ":retryMaxDelay", $"'{delayText}' is not a duration up to 1h", "write e.g. retryMaxDelay: 30s (the longest wait between attempts to reach the agent)");
            }
        }
        return socket is null ? null : new WorkloadApiSettings(socket, retryMaxDelay);
    }

    /// <summary>
    /// <c>spiffe.federation</c>: per foreign trust domain, its bundle endpoint's URL and profile (<c>https_web</c>, with an
    /// optional <c>caFile</c>; or <c>https_spiffe</c>, with <c>endpointSpiffeId</c> and a <c>bootstrapBundle</c>) and the
    /// bounds of its refresh hint. Empty when absent.
    /// </summary>
    public static IReadOnlyList<FederationSettings> CompileFederation(ConfigDocument document, ConfigErrorList errors)
    {
        var result = new List<FederationSettings>();
        foreach (var entry in document.Root.GetSection("spiffe:federation").GetChildren())
        {
            ConfigSections.CheckKnownKeys(entry, FederationKeys, errors, "a federation entry");
            if (!SpiffeId.TryValidateTrustDomain(entry.Key, out var tdError))
            {
                errors.Add(entry.Path, $"'{entry.Key}' is not a valid trust domain name: {tdError}", "use the foreign trust domain as it appears in its SPIFFE IDs, e.g. partner.example");
                continue;
            }
            var ok = true;
            Uri? endpoint = null;
            if (ConfigSections.Value(entry, "bundleEndpoint") is not { } url)
            {
                errors.Add(entry.Path + ":bundleEndpoint", "is required", "write the trust domain's SPIFFE bundle endpoint URL, e.g. bundleEndpoint: https://spire.partner.example:8443");
                ok = false;
            }
            else if (!Uri.TryCreate(url, UriKind.Absolute, out endpoint) || endpoint.Scheme != Uri.UriSchemeHttps || !string.IsNullOrEmpty(endpoint.UserInfo) || !string.IsNullOrEmpty(endpoint.Fragment))
            {
                errors.Add(entry.Path + ":bundleEndpoint", $"'{url}' is not an https URL", "a SPIFFE bundle endpoint is served over HTTPS: write https://host:port/path");
                ok = false;
            }
            var profileText = ConfigSections.Value(entry, "profile");
            var profile = profileText switch
            {
                "https_web" => BundleEndpointProfile.HttpsWeb,
                "https_spiffe" => BundleEndpointProfile.HttpsSpiffe,
                _ => (BundleEndpointProfile?)null,
            };
            if (profile is null)
            {
                errors.Add(entry.Path + ":profile", profileText is null ? "is required" : $"'{profileText}' is not a bundle endpoint profile", "write profile: https_web (Web PKI server certificate) or https_spiffe (the endpoint's X.509-SVID)");
                ok = false;
            }
            var endpointId = ConfigSections.Value(entry, "endpointSpiffeId");
            var bootstrap = FilePath(document, entry, "bootstrapBundle", errors, ref ok);
            var caFile = FilePath(document, entry, "caFile", errors, ref ok);
            if (profile == BundleEndpointProfile.HttpsSpiffe)
            {
                if (endpointId is null)
                {
                    errors.Add(entry.Path + ":endpointSpiffeId", "is required with profile https_spiffe", $"write the SPIFFE ID the endpoint's X.509-SVID names, e.g. spiffe://{entry.Key}/spire/server");
                    ok = false;
                }
                else if (!SpiffeId.TryParse(endpointId, out _, out var idError))
                {
                    errors.Add(entry.Path + ":endpointSpiffeId", $"'{endpointId}' is not a SPIFFE ID: {idError}", $"write e.g. spiffe://{entry.Key}/spire/server");
                    ok = false;
                }
                if (bootstrap is null && ok)
                {
                    errors.Add(entry.Path + ":bootstrapBundle", "is required with profile https_spiffe",
                        "give a PEM file of the endpoint's trust domain's CAs, obtained out of band: the first fetch is authenticated with it, later fetches with the bundle fetched before");
                    ok = false;
                }
                if (caFile is not null)
                {
                    errors.Warn(entry.Path + ":caFile", "applies to profile https_web only", "remove it; https_spiffe authenticates the endpoint with bootstrapBundle");
                }
            }
            else if (profile == BundleEndpointProfile.HttpsWeb && (endpointId is not null || bootstrap is not null))
            {
                errors.Warn(entry.Path, "endpointSpiffeId and bootstrapBundle apply to profile https_spiffe only", "remove them, or use profile: https_spiffe");
            }
            var min = Duration(entry, "minRefresh", FederationSettings.DefaultMinRefresh, errors, ref ok);
            var max = Duration(entry, "maxRefresh", FederationSettings.DefaultMaxRefresh, errors, ref ok);
            if (ok && min > max)
            {
                errors.Add(entry.Path + ":minRefresh", $"{min} is longer than maxRefresh {max}", "make minRefresh at most maxRefresh");
                ok = false;
            }
            if (ok)
            {
                result.Add(new FederationSettings(entry.Key, endpoint!, profile!.Value, endpointId, bootstrap, caFile, min, max));
            }
        }
        return result;
    }

    /// <summary><c>spiffe.bundleEndpoint</c>: where the proxy serves its own trust domain's bundle, or null.</summary>
    public static BundleEndpointSettings? CompileBundleEndpoint(ConfigDocument document, ConfigErrorList errors, IReadOnlyList<FederationSettings> federation)
    {
        var section = document.Root.GetSection("spiffe:bundleEndpoint");
        if (!section.Exists())
        {
            return null;
        }
        ConfigSections.CheckKnownKeys(section, BundleEndpointKeys, errors, "spiffe.bundleEndpoint");
        var ok = true;
        var listener = ConfigSections.Value(section, "listener");
        var listenerItem = document.Root.GetSection("listeners").GetChildren().FirstOrDefault(l => string.Equals(ConfigSections.Value(l, "name"), listener, StringComparison.OrdinalIgnoreCase));
        if (listener is null)
        {
            errors.Add(section.Path + ":listener", "is required", "name the https listener that serves the bundle, e.g. listener: mtls");
            ok = false;
        }
        else if (listenerItem is null)
        {
            errors.Add(section.Path + ":listener", $"names no listener '{listener}'", "name one of the listeners");
            ok = false;
        }
        else if (ConfigSections.Value(listenerItem, "url") is { } url && !url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            errors.Warn(section.Path + ":listener", $"listener '{listener}' is not https: a SPIFFE bundle endpoint is served over TLS", "name an https listener");
        }
        var path = ConfigSections.Value(section, "path") ?? BundleEndpointSettings.DefaultPath;
        if (!path.StartsWith('/') || path.Contains('?') || path.Contains('#'))
        {
            errors.Add(section.Path + ":path", $"'{path}' is not a URL path", "write e.g. path: /bundle");
            ok = false;
        }
        var trustDomain = ConfigSections.Value(section, "trustDomain");
        if (trustDomain is null)
        {
            errors.Add(section.Path + ":trustDomain", "is required", "name the proxy's own trust domain, whose bundle (from the listeners' trustBundles or the Workload API) is served");
            ok = false;
        }
        else if (!SpiffeId.TryValidateTrustDomain(trustDomain, out var tdError))
        {
            errors.Add(section.Path + ":trustDomain", $"'{trustDomain}' is not a valid trust domain name: {tdError}", "write e.g. trustDomain: example.org");
            ok = false;
        }
        else if (federation.Any(f => f.TrustDomain == trustDomain))
        {
            errors.Add(section.Path + ":trustDomain", $"'{trustDomain}' is a federated trust domain", "serve the proxy's own trust domain, not one whose bundle it fetches");
            ok = false;
        }
        var hint = Duration(section, "refreshHint", BundleEndpointSettings.DefaultRefreshHint, errors, ref ok);
        if (ok && hint < TimeSpan.FromSeconds(1))
        {
            errors.Add(section.Path + ":refreshHint", "is shorter than 1s (spiffe_refresh_hint is whole seconds)", "write e.g. refreshHint: 5m");
            ok = false;
        }
        return ok ? new BundleEndpointSettings(listener!, path, trustDomain!, hint) : null;
    }

    private static string? FilePath(ConfigDocument document, IConfigurationSection entry, string key, ConfigErrorList errors, ref bool ok)
    {
        if (ConfigSections.Value(entry, key) is not { } value)
        {
            return null;
        }
        var path = Path.GetFullPath(value, document.Directory);
        if (!document.Offline && !File.Exists(path))
        {
            errors.Add(entry.Path + ":" + key, $"the file '{path}' does not exist", "point it at a PEM file of CA certificates (relative paths start at the config file's folder)");
            ok = false;
        }
        return path;
    }

    private static TimeSpan Duration(IConfigurationSection section, string key, TimeSpan fallback, ConfigErrorList errors, ref bool ok)
    {
        if (ConfigSections.Value(section, key) is not { } text)
        {
            return fallback;
        }
        if (Durations.Parse(text) is { } value && value >= TimeSpan.FromMilliseconds(100) && value <= TimeSpan.FromDays(7))
        {
            return value;
        }
        errors.Add(section.Path + ":" + key, $"'{text}' is not a duration from 100ms to 7d", $"write e.g. {key}: 5m");
        ok = false;
        return fallback;
    }
}
