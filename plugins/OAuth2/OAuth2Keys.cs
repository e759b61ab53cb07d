using System.Globalization;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>The config keys every OAuth2 provider shares: the token endpoint, the client and its authentication.</summary>
internal static class OAuth2Keys
{
    internal static readonly string[] AuthMethods = ["client_secret_basic", "client_secret_post", "private_key_jwt"];

    public static readonly string[] Client =
        ["tokenUrl", "issuer", "clientId", "clientAuth", "clientSecretFile", "clientSecretEnv", "privateKey", "keyId", "assertionAudience", "scopes", "audience", "resource", "parameters", "timeout", "revocationUrl"];

    public static void ValidateClient(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var tokenUrl = config.Get("tokenUrl");
        var issuer = config.Get("issuer");
        if ((tokenUrl is null) == (issuer is null))
        {
            config.Error("tokenUrl", "exactly one of tokenUrl and issuer is required", "set tokenUrl to the token endpoint, or issuer to use OIDC discovery (issuer/.well-known/openid-configuration)");
        }
        foreach (var (key, value) in new[] { ("tokenUrl", tokenUrl), ("issuer", issuer), ("revocationUrl", config.Get("revocationUrl")) })
        {
            if (value is not null && (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http")))
            {
                config.Error(key, "is not an http(s) URL", "write the full URL, e.g. https://idp.example.org/oauth2/token");
            }
        }
        if (config.Get("clientId") is null)
        {
            config.Error("clientId", "is required", "set the client id registered at the authorization server");
        }
        var auth = config.Get("clientAuth") ?? "client_secret_basic";
        if (!AuthMethods.Contains(auth))
        {
            config.Error("clientAuth", $"'{auth}' is not a supported client authentication", $"use one of: {string.Join(", ", AuthMethods)}");
        }
        else if (auth == "private_key_jwt")
        {
            PemSigningKey.Validate(config, "privateKey", required: true, "the client authenticates with (private_key_jwt)");
            if (config.Get("clientSecretFile") is not null || config.Get("clientSecretEnv") is not null)
            {
                config.Error("clientSecretFile", "is not used with private_key_jwt (the client authenticates with its private key)", "remove clientSecretFile/clientSecretEnv, or choose clientAuth: client_secret_basic or client_secret_post");
            }
        }
        else if (config.Get("privateKey") is not null)
        {
            config.Error("privateKey", $"is only used with clientAuth: private_key_jwt (this credential uses {auth})", "set clientAuth: private_key_jwt to authenticate with the key, or remove privateKey");
        }
        else if ((config.Get("clientSecretFile") is null) == (config.Get("clientSecretEnv") is null))
        {
            config.Error("clientSecretFile", $"{auth} needs exactly one of clientSecretFile and clientSecretEnv", "name the file or environment variable holding the client secret (never the secret itself)");
        }
        var timeout = config.Get("timeout");
        if (timeout is not null && (!TimeSpan.TryParse(timeout, CultureInfo.InvariantCulture, out var t) || t <= TimeSpan.Zero))
        {
            config.Error("timeout", "is not a positive duration", "write it as hh:mm:ss, e.g. timeout: 00:00:10");
        }
    }

    public static ClientCredentialsSettings Settings(PluginConfig config)
    {
        var scopes = config.Section.GetSection("scopes");
        var scope = scopes.Value ?? string.Join(' ', scopes.GetChildren().Select(c => c.Value).Where(v => !string.IsNullOrEmpty(v)));
        var parameters = config.Section.GetSection("parameters").GetChildren()
            .Where(c => c.Value is not null)
            .Select(c => new KeyValuePair<string, string>(c.Key, c.Value!)).ToList();
        return new ClientCredentialsSettings(
            config.EntityName,
            config.Get("tokenUrl") is { } tokenUrl ? new Uri(tokenUrl) : null,
            config.Get("issuer") is { } issuer ? new Uri(issuer) : null,
            config.Get("clientId")!,
            config.Get("clientAuth") ?? "client_secret_basic",
            config.Get("clientSecretFile") is { } file ? config.ResolvePath(file) : null,
            config.Get("clientSecretEnv"),
            config.Get("privateKey") is { } key ? config.ResolvePath(key) : null,
            config.Get("keyId"),
            config.Get("assertionAudience"),
            string.IsNullOrWhiteSpace(scope) ? null : scope,
            config.Get("resource"),
            config.Get("audience"),
            parameters,
            config.Get("timeout") is { } timeout ? TimeSpan.Parse(timeout, CultureInfo.InvariantCulture) : TimeSpan.FromSeconds(10),
            config.Get("revocationUrl") is { } revocationUrl ? new Uri(revocationUrl) : null);
    }
}
