using System.Globalization;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Kubernetes;

/// <summary>The settings of <c>provider: kubernetes-secret</c>: one key of one Secret, and how to reach the API server.</summary>
internal sealed record KubernetesSecretSettings(
    string CredentialName,
    string Namespace,
    string Name,
    string Key,
    string? UsernameKey,
    Uri ApiServer,
    string TokenFile,
    string? CaFile,
    TimeSpan Timeout)
{
    public const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    public static readonly string[] KeyNames = ["namespace", "name", "key", "usernameKey", "apiServer", "tokenFile", "caFile", "timeout"];

    public static void Validate(PluginConfig config)
    {
        foreach (var (key, example) in new[] { ("namespace", "namespace: payments"), ("name", "name: billing-api") })
        {
            if (config.Get(key) is not { } value)
            {
                config.Error(key, "is required", "name the Secret, e.g. " + example);
            }
            else if (!IsDnsName(value, key == "namespace" ? 63 : 253))
            {
                config.Error(key, "is not a Kubernetes object name", "use lowercase letters, digits, '-' (and '.' in a name), e.g. " + example);
            }
        }
        foreach (var key in new[] { "key", "usernameKey" })
        {
            if (config.Get(key) is { } value && (value.Length > 253 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            {
                config.Error(key, "is not a Secret data key", "use letters, digits, '-', '_' and '.', e.g. key: token");
            }
        }
        if (config.Get("key") is null)
        {
            config.Error("key", "is required", "name the key of the Secret's data to inject, e.g. key: token");
        }
        var server = config.Get("apiServer");
        if (server is not null && (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.UserInfo)))
        {
            config.Error("apiServer", "is not an http(s) URL", "e.g. apiServer: https://kubernetes.default.svc (default: from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)");
        }
        if (config.Get("timeout") is { } timeout && (!TimeSpan.TryParse(timeout, CultureInfo.InvariantCulture, out var span) || span <= TimeSpan.Zero))
        {
            config.Error("timeout", "must be a positive duration", "write it as hh:mm:ss, e.g. timeout: 00:00:05");
        }
    }

    public static KubernetesSecretSettings Read(PluginConfig config)
    {
        var server = config.Get("apiServer") is { } configured ? new Uri(configured) : InClusterServer();
        var caFile = config.Get("caFile") is { } ca ? config.ResolvePath(ca) : server.Scheme == "https" ? Path.Combine(ServiceAccountDirectory, "ca.crt") : null;
        return new KubernetesSecretSettings(
            config.EntityName,
            config.Get("namespace")!,
            config.Get("name")!,
            config.Get("key")!,
            config.Get("usernameKey"),
            server,
            config.Get("tokenFile") is { } token ? config.ResolvePath(token) : Path.Combine(ServiceAccountDirectory, "token"),
            caFile,
            config.Get("timeout") is { } timeout ? TimeSpan.Parse(timeout, CultureInfo.InvariantCulture) : TimeSpan.FromSeconds(5));
    }

    /// <summary>What a pod sees: https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT, else kubernetes.default.svc.</summary>
    private static Uri InClusterServer()
    {
        var host = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST");
        var port = Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_PORT");
        if (string.IsNullOrEmpty(host))
        {
            return new Uri("https://kubernetes.default.svc/");
        }
        var builder = new UriBuilder("https", host, int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) ? p : 443);
        return builder.Uri;
    }

    private static bool IsDnsName(string value, int max) =>
        value.Length is > 0 && value.Length <= max && char.IsAsciiLetterOrDigit(value[0]) && char.IsAsciiLetterOrDigit(value[^1])
        && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.');
}
