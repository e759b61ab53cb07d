using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Azure;

/// <summary>How the proxy signs in to Microsoft Entra ID: a federated token from a file, or a client certificate.</summary>
internal sealed record KeyVaultAuth(string Method, string TenantId, string ClientId, Uri AuthorityHost, string? TokenFile, string? CertificateFile, string? KeyFile);

/// <summary>The settings of <c>provider: azure-key-vault</c>: one secret (and version) of one vault, and how to sign in.</summary>
internal sealed record KeyVaultSettings(
    string CredentialName,
    Uri VaultUri,
    string Secret,
    string? Version,
    string? CaFile,
    bool VerifyChallengeResource,
    TimeSpan Ttl,
    TimeSpan Timeout,
    KeyVaultAuth Auth)
{
    public const string AuthKey = "auth";

    public const string WorkloadIdentity = "workload-identity";

    public const string Certificate = "certificate";

    public static readonly Uri DefaultAuthorityHost = new("https://login.microsoftonline.com/");

    public static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(5);

    /// <summary><c>clientSecret</c> is listed only to be refused with a clear message (never a client secret in config).</summary>
    public static readonly string[] KeyNames = ["vaultUri", "secret", "version", "caFile", "verifyChallengeResource", "ttl", "timeout", AuthKey, "clientSecret"];

    public static readonly string[] AuthKeys = ["method", "tenantId", "clientId", "authorityHost", "tokenFile", "certificateFile", "keyFile"];

    private static readonly string[] ClientSecretKeys = ["clientSecret", "clientSecretFile", "clientSecretEnv", "secret", "password"];

    public static void Validate(PluginConfig config)
    {
        if (config.Get("clientSecret") is not null || config.Section.GetSection("clientSecret").Exists())
        {
            RefuseClientSecret(config, "clientSecret");
        }
        if (config.Get("vaultUri") is not { } vault)
        {
            config.Error("vaultUri", "is required", "name the vault, e.g. vaultUri: https://payments-prod.vault.azure.net/");
        }
        else if (!Uri.TryCreate(vault, UriKind.Absolute, out var uri) || uri.Scheme != "https" || !string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query) || uri.AbsolutePath != "/")
        {
            config.Error("vaultUri", "is not an https URL of a vault (no path, user info or query)", "e.g. vaultUri: https://payments-prod.vault.azure.net/");
        }
        if (config.Get("secret") is not { } secret)
        {
            config.Error("secret", "is required", "name the secret, e.g. secret: billing-api-key");
        }
        else if (!IsName(secret, 127))
        {
            config.Error("secret", "is not a Key Vault secret name (1 to 127 letters, digits and '-')", "e.g. secret: billing-api-key");
        }
        if (config.Get("version") is { } version && (version.Length != 32 || !version.All(char.IsAsciiHexDigit)))
        {
            config.Error("version", "is not a Key Vault secret version (32 hex digits)", "copy the version from the secret's identifier, e.g. version: 4387e9f3d6e14c459867679a90fd0f79, or leave it out to follow the current version");
        }
        if (config.Get("verifyChallengeResource") is { } verify && !bool.TryParse(verify, out _))
        {
            config.Error("verifyChallengeResource", "must be true or false", "leave it out (true): only a vault reached under a name outside the challenge's resource domain needs false");
        }
        config.CheckDuration("ttl", TimeSpan.FromSeconds(1), "ttl: 00:05:00 (how long a fetched value serves before it is fetched again)");
        config.CheckDuration("timeout", TimeSpan.FromMilliseconds(1), "timeout: 00:00:05");
        TrustedCaHandler.Validate(config, "caFile");
        ValidateAuth(config);
    }

    private static void ValidateAuth(PluginConfig config)
    {
        var auth = config.Section.GetSection(AuthKey);
        if (!auth.Exists() || auth.Value is not null)
        {
            config.Error(AuthKey, auth.Exists() ? "must be a mapping" : "is required",
                "write auth: { method: workload-identity, tenantId: ..., clientId: ... } (a federated token from a file) or auth: { method: certificate, tenantId: ..., clientId: ..., certificateFile: ... }");
            return;
        }
        foreach (var child in auth.GetChildren())
        {
            if (ClientSecretKeys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                RefuseClientSecret(config, AuthKey + "." + child.Key);
            }
            else if (!AuthKeys.Contains(child.Key, StringComparer.Ordinal))
            {
                config.Error(AuthKey + "." + child.Key, "is not a known key", "the keys of 'auth' are: " + string.Join(", ", AuthKeys));
            }
        }
        var method = config.Get("auth:method");
        if (method is not (WorkloadIdentity or Certificate))
        {
            config.Error("auth.method", method is null ? "is required" : $"'{method}' is not a sign-in method of this provider",
                "write method: workload-identity (a federated token from a file, AZURE_FEDERATED_TOKEN_FILE) or method: certificate (a client certificate); a client secret is not accepted");
        }
        foreach (var key in (string[])["tenantId", "clientId"])
        {
            var value = config.Get("auth:" + key) ?? Environment(key);
            if (value is null)
            {
                config.Error("auth." + key, "is required", $"set {key} (a GUID; default: {(key == "tenantId" ? "AZURE_TENANT_ID" : "AZURE_CLIENT_ID")})");
            }
            else if (!(Guid.TryParse(value, out _) || (key == "tenantId" && IsName(value.Replace(".", "", StringComparison.Ordinal), 253))))
            {
                config.Error("auth." + key, "is not a GUID" + (key == "tenantId" ? " or a tenant domain" : ""), $"copy the {(key == "tenantId" ? "directory (tenant)" : "application (client)")} id, e.g. {key}: 72f988bf-86f1-41af-91ab-2d7cd011db47");
            }
        }
        if (config.Get("auth:authorityHost") is { } host
            && (!Uri.TryCreate(host, UriKind.Absolute, out var authority) || authority.Scheme != "https" || !string.IsNullOrEmpty(authority.UserInfo) || !string.IsNullOrEmpty(authority.Query)))
        {
            config.Error("auth.authorityHost", "is not an https URL", "e.g. authorityHost: https://login.microsoftonline.us/ (default: https://login.microsoftonline.com/)");
        }
        if (method == WorkloadIdentity)
        {
            if (config.Get("auth:tokenFile") is null && System.Environment.GetEnvironmentVariable("AZURE_FEDERATED_TOKEN_FILE") is null)
            {
                config.Error("auth.tokenFile", "is required (AZURE_FEDERATED_TOKEN_FILE is not set)", "name the projected service-account token file, e.g. tokenFile: /var/run/secrets/azure/tokens/azure-identity-token");
            }
            foreach (var key in (string[])["certificateFile", "keyFile"])
            {
                if (config.Get("auth:" + key) is not null)
                {
                    config.Error("auth." + key, "is only used with method: certificate", "remove it, or set method: certificate");
                }
            }
        }
        if (method == Certificate)
        {
            if (config.Get("auth:certificateFile") is not { } certificate)
            {
                config.Error("auth.certificateFile", "is required", "name the PEM file of the client certificate (with its key, or the key in keyFile), e.g. certificateFile: /var/run/secrets/proxy/entra.pem");
            }
            else if (!config.Offline)
            {
                ValidateCertificate(config, config.ResolvePath(certificate), config.Get("auth:keyFile") is { } key ? config.ResolvePath(key) : null);
            }
            if (config.Get("auth:tokenFile") is not null)
            {
                config.Error("auth.tokenFile", "is only used with method: workload-identity", "remove it, or set method: workload-identity");
            }
        }
    }

    /// <summary>The client certificate is read when the provider is built: a missing or unusable one is a config error, not a crash.</summary>
    private static void ValidateCertificate(PluginConfig config, string certificate, string? key)
    {
        const string Fix = "point certificateFile at the PEM certificate registered on the app, with its private key in the same file or in keyFile (relative paths start at the config file's folder)";
        try
        {
            using var loaded = X509Certificate2.CreateFromPemFile(certificate, key);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            config.Error(File.Exists(certificate) ? "auth.keyFile" : "auth.certificateFile", $"the file '{(File.Exists(certificate) ? key : certificate)}' does not exist", Fix);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            config.Error("auth.certificateFile", $"'{certificate}'{(key is null ? "" : $" with '{key}'")} is not a PEM certificate with its private key ({ex.GetType().Name})", Fix);
        }
    }

    private static void RefuseClientSecret(PluginConfig config, string key) =>
        config.Error(key, "is refused: a client secret is a long-lived secret in config",
            "sign in with auth: { method: workload-identity, ... } (a federated token from a file) or auth: { method: certificate, certificateFile: ... }");

    public static KeyVaultSettings Read(PluginConfig config)
    {
        var method = config.Get("auth:method")!;
        var vault = config.Get("vaultUri")!;
        string? File(string key) => config.Get(key) is { } path ? config.ResolvePath(path) : null;
        var auth = new KeyVaultAuth(
            method,
            config.Get("auth:tenantId") ?? Environment("tenantId")!,
            config.Get("auth:clientId") ?? Environment("clientId")!,
            config.Get("auth:authorityHost") is { } host ? new Uri(host.EndsWith('/') ? host : host + "/") : DefaultAuthorityHost,
            method == WorkloadIdentity ? File("auth:tokenFile") ?? System.Environment.GetEnvironmentVariable("AZURE_FEDERATED_TOKEN_FILE") : null,
            File("auth:certificateFile"),
            File("auth:keyFile"));
        return new KeyVaultSettings(
            config.EntityName,
            new Uri(vault),
            config.Get("secret")!,
            config.Get("version"),
            File("caFile"),
            config.Get("verifyChallengeResource") is not { } verify || bool.Parse(verify),
            config.GetDuration("ttl") ?? DefaultTtl,
            config.GetDuration("timeout") ?? TimeSpan.FromSeconds(5),
            auth);
    }

    private static string? Environment(string key) =>
        System.Environment.GetEnvironmentVariable(key == "tenantId" ? "AZURE_TENANT_ID" : "AZURE_CLIENT_ID") is { Length: > 0 } value ? value : null;

    private static bool IsName(string value, int max) =>
        value.Length is > 0 && value.Length <= max && value.All(c => char.IsAsciiLetterOrDigit(c) || c == '-');
}
