using SecretlessProxy.WorkloadApi;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>spiffe</c>: <c>workloadApi</c> makes the SPIFFE Workload API the source of the proxy's own X.509-SVID and
/// of the trust bundles for every https listener without <c>certificate</c> or <c>trustBundles</c> files. The socket is
/// not opened here (validate does not need the agent); the running proxy reports an absent agent in /readyz.
/// </summary>
internal static class SpiffeSection
{
    /// <summary>The variable SPIFFE workloads read the agent's socket from (the SPIFFE Workload Endpoint standard).</summary>
    public const string EndpointVariable = "SPIFFE_ENDPOINT_SOCKET";

    private static readonly string[] Keys = ["workloadApi"];
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
            errors.Add(section.Path, "names no source", "add workloadApi: { socket: unix:/run/spire/agent.sock }, or remove spiffe to read certificate and trustBundles files");
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
}
