using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>
/// <c>provider: file</c> — the secret is the content of one file (trimmed), re-read when it changes. With <c>{user}</c>
/// in <c>path</c>, one file per user an agent acts for (<see cref="PerUserFileCredentialProvider"/>).
/// </summary>
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
        var path = config.Get("path");
        if (path is null)
        {
            config.Error("path", "is required", "set 'path' to the file that holds the secret, e.g. path: secrets/github-token");
        }
        else if (path.Replace(PerUserFileCredentialProvider.Placeholder, "", StringComparison.Ordinal) is var rest && (rest.Contains('{') || rest.Contains('}')))
        {
            config.Error("path", "has a placeholder other than {user}", "the only placeholder is {user} (the subject of the user the agent acts for), e.g. path: secrets/users/{user}/api-key");
        }
        StoreSettings.ValidateCommon(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var path = config.ResolvePath(config.Get("path")!);
        if (path.Contains(PerUserFileCredentialProvider.Placeholder, StringComparison.Ordinal))
        {
            return new PerUserFileCredentialProvider(config.EntityName, path, StoreSettings.Trim(config), config.TimeProvider, StoreSettings.PollInterval(config), config.Get("username"));
        }
        var secret = new WatchedSecretFile(path, StoreSettings.Trim(config), config.TimeProvider, StoreSettings.PollInterval(config));
        return new FileCredentialProvider(config.EntityName, secret, username: null, config.Get("username"));
    }
}
