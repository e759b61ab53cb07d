using System.Globalization;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Vault;

/// <summary>The keys of a <c>provider: vault</c> credential, their nested sections, validation and parsing.</summary>
internal static class VaultKeys
{
    public static readonly string[] Top = ["address", "namespace", "caFile", "timeout", "refreshInterval", "auth", "kv", "dynamic"];

    internal static readonly string[] Methods = ["jwt", "kubernetes", "cert", "approle"];

    private static readonly string[] AuthKeys = ["method", "role", "mount", "tokenFile", "certFile", "keyFile", "roleId", "secretIdFile"];
    private static readonly string[] KvKeys = ["mount", "path", "field", "version", "usernameField"];
    private static readonly string[] DynamicKeys = ["path", "field", "usernameField"];

    internal const string KubernetesTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";

    public static void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var address = config.Get("address");
        if (address is null)
        {
            config.Error("address", "is required", "set the Vault (or OpenBao) server's URL, e.g. address: https://vault.example.org:8200");
        }
        else if (!Uri.TryCreate(address, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.Query) || uri.UserInfo.Length > 0)
        {
            config.Error("address", "is not an http(s) URL without query or user info", "write the server's base URL, e.g. https://vault.example.org:8200 (the proxy adds /v1/...)");
        }
        if (config.Get("namespace") is { } ns && !IsPath(ns))
        {
            config.Error("namespace", "is not a Vault namespace path", "write it as e.g. namespace: team-a or namespace: org/team-a (no leading '/', no '..')");
        }
        Duration(config, "timeout", TimeSpan.FromMilliseconds(100), "timeout: 00:00:10");
        Duration(config, "refreshInterval", TimeSpan.FromSeconds(1), "refreshInterval: 00:05:00");
        ValidateAuth(config);

        var kv = config.Section.GetSection("kv");
        var dynamic = config.Section.GetSection("dynamic");
        var hasKv = kv.Exists();
        var hasDynamic = dynamic.Exists();
        if (hasKv == hasDynamic)
        {
            config.Error(hasKv ? "dynamic" : "kv", "exactly one of 'kv' and 'dynamic' is required",
                "read a KV v2 field with kv: { mount: secret, path: app/db, field: password }, or a leased secret with dynamic: { path: database/creds/app }");
        }
        if (hasKv)
        {
            Mapping(config, "kv", KvKeys);
            Segment(config, "kv.mount", required: false, "kv: { mount: secret }");
            Segment(config, "kv.path", required: true, "kv: { path: payments/api }");
            if (config.Get("kv:field") is null)
            {
                config.Error("kv.field", "is required", "name the secret's key to inject, e.g. kv: { field: token }");
            }
            if (config.Get("kv:version") is { } version && (!int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) || v < 1))
            {
                config.Error("kv.version", "is not a version number (1 or more)", "pin a version with e.g. version: 3, or leave it out for the latest");
            }
        }
        if (hasDynamic)
        {
            Mapping(config, "dynamic", DynamicKeys);
            Segment(config, "dynamic.path", required: true, "dynamic: { path: database/creds/app }");
        }
    }

    private static void ValidateAuth(PluginConfig config)
    {
        var auth = config.Section.GetSection("auth");
        if (!auth.Exists())
        {
            config.Error("auth", "is required", "say how the proxy logs in, e.g. auth: { method: kubernetes, role: secretless-proxy } (a static Vault token is never read from config)");
            return;
        }
        if (auth.GetSection("token").Exists() || auth.GetSection("tokenEnv").Exists())
        {
            config.Error("auth.token", "a static Vault token is not accepted", "log in as the proxy: auth.method jwt, kubernetes or cert (the proxy gets and renews its own token)");
        }
        Mapping(config, "auth", AuthKeys);
        var method = config.Get("auth:method");
        if (method is null || !Methods.Contains(method))
        {
            config.Error("auth.method", method is null ? "is required" : $"'{method}' is not a supported auth method", $"use one of: {string.Join(", ", Methods)}");
            return;
        }
        Segment(config, "auth.mount", required: false, $"auth: {{ mount: {method} }}");
        switch (method)
        {
            case "jwt":
                Required(config, "auth.role", "the Vault role to log in as, e.g. role: secretless-proxy");
                Required(config, "auth.tokenFile", "the file holding the JWT (re-read at each login), e.g. tokenFile: /var/run/secrets/tokens/vault");
                break;
            case "kubernetes":
                Required(config, "auth.role", "the Vault role bound to the proxy's service account, e.g. role: secretless-proxy");
                break;
            case "cert":
                Required(config, "auth.certFile", "the proxy's client certificate (PEM), e.g. certFile: /run/svid/svid.pem");
                Required(config, "auth.keyFile", "the client certificate's private key (PEM), e.g. keyFile: /run/svid/svid.key");
                break;
            case "approle":
                Required(config, "auth.roleId", "the AppRole's role_id (an identifier, not a secret)");
                Required(config, "auth.secretIdFile", "the file holding the AppRole secret_id (never the value in config)");
                break;
        }
        foreach (var key in (string[])["certFile", "keyFile"])
        {
            if (method != "cert" && config.Get("auth:" + key) is not null)
            {
                config.Error("auth." + key, $"is only used with method: cert (this credential uses {method})", "remove it, or set method: cert");
            }
        }
        foreach (var key in (string[])["roleId", "secretIdFile"])
        {
            if (method != "approle" && config.Get("auth:" + key) is not null)
            {
                config.Error("auth." + key, $"is only used with method: approle (this credential uses {method})", "remove it, or set method: approle");
            }
        }
        if (method is "cert" or "approle" && config.Get("auth:tokenFile") is not null)
        {
            config.Error("auth.tokenFile", $"is not used with method: {method}", "remove it (jwt and kubernetes read a token file)");
        }
    }

    public static VaultSettings Settings(PluginConfig config)
    {
        var method = config.Get("auth:method")!;
        string? File(string key) => config.Get(key) is { } path ? config.ResolvePath(path) : null;
        var auth = new VaultAuthSettings(
            method,
            config.Get("auth:mount") ?? method,
            config.Get("auth:role"),
            File("auth:tokenFile") ?? (method == "kubernetes" ? KubernetesTokenFile : null),
            File("auth:certFile"),
            File("auth:keyFile"),
            config.Get("auth:roleId"),
            File("auth:secretIdFile"));
        var kv = config.Section.GetSection("kv").Exists()
            ? new VaultKvSettings(
                config.Get("kv:mount") ?? "secret",
                config.Get("kv:path")!.Trim('/'),
                config.Get("kv:field")!,
                config.Get("kv:version") is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : null,
                config.Get("kv:usernameField"))
            : null;
        var dynamic = config.Section.GetSection("dynamic").Exists()
            ? new VaultDynamicSettings(config.Get("dynamic:path")!.Trim('/'), config.Get("dynamic:field"), config.Get("dynamic:usernameField"))
            : null;
        var address = config.Get("address")!;
        return new VaultSettings(
            config.EntityName,
            new Uri(address.EndsWith('/') ? address : address + "/"),
            config.Get("namespace"),
            File("caFile"),
            config.Get("timeout") is { } t ? TimeSpan.Parse(t, CultureInfo.InvariantCulture) : TimeSpan.FromSeconds(10),
            auth,
            kv,
            dynamic,
            config.Get("refreshInterval") is { } r ? TimeSpan.Parse(r, CultureInfo.InvariantCulture) : TimeSpan.FromMinutes(5));
    }

    private static void Mapping(PluginConfig config, string section, string[] keys)
    {
        var node = config.Section.GetSection(section);
        if (node.Value is not null)
        {
            config.Error(section, "must be a mapping", $"write it as {section}: {{ {keys[0]}: ... }}");
            return;
        }
        foreach (var child in node.GetChildren())
        {
            if (!keys.Contains(child.Key, StringComparer.Ordinal) && !(section == "auth" && child.Key is "token" or "tokenEnv"))
            {
                config.Error(section + "." + child.Key, "is not a known key", $"the keys of '{section}' are: {string.Join(", ", keys)}");
            }
        }
    }

    private static void Required(PluginConfig config, string key, string fix)
    {
        if (config.Get(key.Replace('.', ':')) is null)
        {
            config.Error(key, "is required", "set " + fix);
        }
    }

    private static void Segment(PluginConfig config, string key, bool required, string example)
    {
        var value = config.Get(key.Replace('.', ':'));
        if (value is null)
        {
            if (required)
            {
                config.Error(key, "is required", "write e.g. " + example);
            }
        }
        else if (!IsPath(value.Trim('/')))
        {
            config.Error(key, "is not a Vault path (letters, digits, '-', '_', '.', '/' separated; no '..')", "write e.g. " + example);
        }
    }

    private static bool IsPath(string value) =>
        value.Length is > 0 and <= 512
        && value.Split('/').All(segment => segment.Length > 0 && segment is not ("." or "..")
            && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '@' or '+' or '='));

    private static void Duration(PluginConfig config, string key, TimeSpan minimum, string example)
    {
        var text = config.Get(key);
        if (text is not null && (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) || value < minimum))
        {
            config.Error(key, $"is not a duration of at least {minimum.TotalSeconds:0.###} s", $"write it as hh:mm:ss, e.g. {example}");
        }
    }
}
