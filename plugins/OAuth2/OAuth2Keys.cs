using System.Globalization;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>The config keys every OAuth2 provider shares: the token endpoint, the client and its authentication.</summary>
internal static class OAuth2Keys
{
    internal static readonly string[] AuthMethods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"];

    /// <summary>RFC 8705 §2: the client authenticates with the certificate on the TLS connection.</summary>
    internal static bool IsMutualTls(string auth) => auth is "tls_client_auth" or "self_signed_tls_client_auth";

    /// <summary>The files a client reads when built: the proxy watches them and rebuilds the credential when one changes.</summary>
    public static readonly string[] KeyFiles = ["privateKey", "clientCertificate:certFile", "clientCertificate:keyFile", "caFile"];

    public static readonly string[] Client =
        ["tokenUrl", "issuer", "clientId", "clientAuth", "clientSecretFile", "clientSecretEnv", "privateKey", "keyId", "assertionAudience", "scopes", "audience", "resource", "parameters", "timeout", "revocationUrl", "clientCertificate", "caFile"];

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
        else if (IsMutualTls(auth))
        {
            ClientCertificate.Validate(config, "clientCertificate.", required: true, $"the client authenticates with ({auth}, RFC 8705)");
            if (config.Get("clientSecretFile") is not null || config.Get("clientSecretEnv") is not null || config.Get("privateKey") is not null)
            {
                config.Error("clientAuth", $"{auth} authenticates with the client certificate alone", "remove clientSecretFile, clientSecretEnv and privateKey, or choose another clientAuth");
            }
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
        if (!IsMutualTls(auth))
        {
            // With another client authentication, a certificate may still be presented so the token is bound to it (RFC 8705 §3).
            ClientCertificate.Validate(config, "clientCertificate.", required: false, "the token endpoint binds tokens to (RFC 8705 §3)");
        }
        if (config.Get("caFile") is { } caFile && !config.Offline && !File.Exists(config.ResolvePath(caFile)))
        {
            config.Error("caFile", $"'{config.ResolvePath(caFile)}' does not exist", "name a PEM file of the CA certificates the token endpoint's certificate chains to");
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
            config.Get("revocationUrl") is { } revocationUrl ? new Uri(revocationUrl) : null)
        {
            CertFile = config.Get("clientCertificate:certFile") is { } cert ? config.ResolvePath(cert) : null,
            KeyFile = config.Get("clientCertificate:keyFile") is { } certKey ? config.ResolvePath(certKey) : null,
            CaFile = config.Get("caFile") is { } ca ? config.ResolvePath(ca) : null,
        };
    }
}
