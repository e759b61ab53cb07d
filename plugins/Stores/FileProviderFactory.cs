using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary><c>provider: file</c> — the secret is the content of one file (trimmed), re-read when it changes.</summary>
public sealed class FileProviderFactory : ICredentialProviderFactory
{
    internal static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(1);

    public string Name => "file";

    public bool IssuesStaticSecrets => true;

    public IReadOnlyCollection<string> Keys { get; } = ["path", "username", "trim", "pollInterval"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Get("path") is null)
        {
            config.Error("path", "is required", "set 'path' to the file that holds the secret, e.g. path: secrets/github-token");
        }
        StoreSettings.ValidateCommon(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var secret = new WatchedSecretFile(
            config.ResolvePath(config.Get("path")!), StoreSettings.Trim(config), config.TimeProvider, StoreSettings.PollInterval(config));
        return new FileCredentialProvider(config.EntityName, secret, username: null, config.Get("username"));
    }
}
