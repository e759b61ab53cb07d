using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>
/// <c>provider: secret-dir</c> — a Kubernetes-style mounted secret: a folder with one file per key
/// (<c>key</c>, default <c>token</c>; optional <c>usernameKey</c>). Re-read when the files change, including
/// the atomic <c>..data</c> symlink swap the kubelet does.
/// </summary>
public sealed class SecretDirProviderFactory : ICredentialProviderFactory
{
    public string Name => "secret-dir";

    public bool IssuesStaticSecrets => true;

    public IReadOnlyCollection<string> Keys { get; } = ["path", "key", "usernameKey", "username", "trim", "pollInterval"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Get("path") is null)
        {
            config.Error("path", "is required", "set 'path' to the mounted secret folder, e.g. path: /var/run/secrets/github");
        }
        foreach (var key in (string[])["key", "usernameKey"])
        {
            var value = config.Get(key);
            if (value is not null && (value.Contains('/') || value.Contains('\\') || value is "." or ".."))
            {
                config.Error(key, "must be a file name inside the secret folder, not a path", $"use a plain key name such as '{(key == "key" ? "token" : "username")}'");
            }
        }
        if (config.Get("username") is not null && config.Get("usernameKey") is not null)
        {
            config.Error("username", "cannot be set together with 'usernameKey'", "keep one: a fixed 'username' or a 'usernameKey' file in the folder");
        }
        StoreSettings.ValidateCommon(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var folder = config.ResolvePath(config.Get("path")!);
        var trim = StoreSettings.Trim(config);
        var poll = StoreSettings.PollInterval(config);
        var secret = new WatchedSecretFile(Path.Combine(folder, config.Get("key") ?? "token"), trim, config.TimeProvider, poll);
        var usernameKey = config.Get("usernameKey");
        var username = usernameKey is null ? null : new WatchedSecretFile(Path.Combine(folder, usernameKey), trim, config.TimeProvider, poll);
        return new FileCredentialProvider(config.EntityName, secret, username, config.Get("username"));
    }
}
