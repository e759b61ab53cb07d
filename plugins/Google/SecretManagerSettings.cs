using System.Globalization;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Google;

/// <summary>
/// How the proxy gets a Google access token: workload identity federation (an STS token exchange of a subject token
/// from a file, then optionally impersonating a service account), or a service-account key file (migration debt).
/// </summary>
internal sealed record GoogleAuth(
    string Method,
    string? Audience,
    string? TokenFile,
    string SubjectTokenType,
    Uri StsEndpoint,
    string? ServiceAccount,
    Uri IamEndpoint,
    string? KeyFile,
    Uri? TokenEndpoint);

/// <summary>The settings of <c>provider: google-secret-manager</c>: one version of one secret, and how to authenticate.</summary>
internal sealed record SecretManagerSettings(string CredentialName, string Project, string Secret, string Version, Uri Endpoint, string? CaFile, TimeSpan Ttl, TimeSpan Timeout, GoogleAuth Auth)
{
    public const string AuthKey = "auth";
    public const string WorkloadIdentityFederation = "workload-identity-federation";
    public const string ServiceAccountKey = "service-account-key";
    public const string Scope = "https://www.googleapis.com/auth/cloud-platform";

    public static readonly string[] KeyNames = ["project", "secret", "version", "endpoint", "caFile", "ttl", "timeout", AuthKey];

    public static readonly string[] AuthKeys = ["method", "audience", "tokenFile", "subjectTokenType", "stsEndpoint", "serviceAccount", "iamEndpoint", "keyFile", "tokenEndpoint"];

    public static void Validate(PluginConfig config)
    {
        if (config.Get("project") is not { } project)
        {
            config.Error("project", "is required", "name the project (its id or number), e.g. project: payments-prod");
        }
        else if (!IsId(project, 100))
        {
            config.Error("project", "is not a project id or number", "e.g. project: payments-prod or project: 123456789012");
        }
        if (config.Get("secret") is not { } secret)
        {
            config.Error("secret", "is required", "name the secret, e.g. secret: billing-api-key");
        }
        else if (secret.Length > 255 || !secret.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
        {
            config.Error("secret", "is not a Secret Manager secret id (letters, digits, '-', '_'; at most 255)", "e.g. secret: billing-api-key");
        }
        if (config.Get("version") is { } version && version != "latest" && (!long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1))
        {
            config.Error("version", "is not a version number or 'latest'", "e.g. version: 3 (pinned), or leave it out to follow latest");
        }
        config.CheckHttpUrl("endpoint", "endpoint: https://secretmanager.googleapis.com/ (a regional endpoint such as https://secretmanager.europe-west1.rep.googleapis.com/)");
        config.CheckDuration("ttl", TimeSpan.FromSeconds(1), "ttl: 00:05:00 (how long a fetched value serves before it is fetched again)");
        config.CheckDuration("timeout", TimeSpan.FromMilliseconds(1), "timeout: 00:00:05");
        TrustedCaHandler.Validate(config, "caFile");

        var auth = config.Section.GetSection(AuthKey);
        if (!auth.Exists() || auth.Value is not null)
        {
            config.Error(AuthKey, auth.Exists() ? "must be a mapping" : "is required",
                "write auth: { method: workload-identity-federation, audience: //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER, tokenFile: ... }");
            return;
        }
        foreach (var child in auth.GetChildren().Where(c => !AuthKeys.Contains(c.Key, StringComparer.Ordinal)))
        {
            config.Error(AuthKey + "." + child.Key, "is not a known key", "the keys of 'auth' are: " + string.Join(", ", AuthKeys));
        }
        var method = config.Get("auth:method");
        string[] only;
        switch (method)
        {
            case WorkloadIdentityFederation:
                if (config.Get("auth:audience") is not { } audience)
                {
                    config.Error("auth.audience", "is required", "name the workload identity pool provider, e.g. audience: //iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/prod/providers/k8s");
                }
                else if (!audience.StartsWith("//iam.googleapis.com/", StringComparison.Ordinal))
                {
                    config.Error("auth.audience", "is not a workload identity pool provider's name", "write //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER");
                }
                if (config.Get("auth:tokenFile") is null)
                {
                    config.Error("auth.tokenFile", "is required", "name the file of the subject token (a projected service-account token or another OIDC token), e.g. tokenFile: /var/run/secrets/tokens/gcp-token");
                }
                if (config.Get("auth:serviceAccount") is { } account && (!account.Contains('@', StringComparison.Ordinal) || account.Any(char.IsWhiteSpace)))
                {
                    config.Error("auth.serviceAccount", "is not a service account's email", "e.g. serviceAccount: proxy@payments-prod.iam.gserviceaccount.com (leave it out to use the federated token directly)");
                }
                config.CheckHttpUrl("auth:stsEndpoint", "stsEndpoint: https://sts.googleapis.com/v1/token");
                config.CheckHttpUrl("auth:iamEndpoint", "iamEndpoint: https://iamcredentials.googleapis.com/");
                only = ["keyFile", "tokenEndpoint"];
                break;
            case ServiceAccountKey:
                if (config.Get("auth:keyFile") is null)
                {
                    config.Error("auth.keyFile", "is required", "name the service-account key file (JSON), e.g. keyFile: /var/run/secrets/gcp/key.json; better, move to method: workload-identity-federation");
                }
                config.CheckHttpUrl("auth:tokenEndpoint", "tokenEndpoint: https://oauth2.googleapis.com/token (default: the key file's token_uri)");
                only = ["audience", "tokenFile", "subjectTokenType", "stsEndpoint", "serviceAccount", "iamEndpoint"];
                break;
            default:
                config.Error("auth.method", method is null ? "is required" : $"'{method}' is not an authentication method of this provider",
                    "write method: workload-identity-federation (an STS token exchange), or method: service-account-key (a key file: migration debt)");
                return;
        }
        foreach (var key in only.Where(k => config.Get("auth:" + k) is not null))
        {
            config.Error("auth." + key, $"is not used with method: {method}", "remove it");
        }
    }

    public static SecretManagerSettings Read(PluginConfig config)
    {
        string? File(string key) => config.Get(key) is { } path ? config.ResolvePath(path) : null;
        Uri UrlOr(string key, string fallback) => new(config.Get(key) ?? fallback);
        var auth = new GoogleAuth(
            config.Get("auth:method")!,
            config.Get("auth:audience"),
            File("auth:tokenFile"),
            config.Get("auth:subjectTokenType") ?? "urn:ietf:params:oauth:token-type:jwt",
            UrlOr("auth:stsEndpoint", "https://sts.googleapis.com/v1/token"),
            config.Get("auth:serviceAccount"),
            UrlOr("auth:iamEndpoint", "https://iamcredentials.googleapis.com/"),
            File("auth:keyFile"),
            config.Get("auth:tokenEndpoint") is { } t ? new Uri(t) : null);
        var endpoint = config.Get("endpoint") ?? "https://secretmanager.googleapis.com/";
        return new SecretManagerSettings(
            config.EntityName,
            config.Get("project")!,
            config.Get("secret")!,
            config.Get("version") ?? "latest",
            new Uri(endpoint.EndsWith('/') ? endpoint : endpoint + "/"),
            File("caFile"),
            config.GetDuration("ttl") ?? TimeSpan.FromMinutes(5),
            config.GetDuration("timeout") ?? TimeSpan.FromSeconds(5),
            auth);
    }

    private static bool IsId(string value, int max) =>
        value.Length is > 0 && value.Length <= max && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.' or ':');
}
