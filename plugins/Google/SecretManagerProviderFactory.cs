using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Google;

/// <summary>
/// <c>provider: google-secret-manager</c> — one version of a Google Secret Manager secret, read over its REST API
/// (<c>projects/P/secrets/S/versions/V:access</c>). The access token comes from workload identity federation (an
/// RFC 8693 exchange at Google's STS, then optionally <c>generateAccessToken</c> for a service account) or from a
/// service-account key file (a JWT bearer grant; a long-lived key: migration debt, warned about at build).
/// </summary>
public sealed partial class SecretManagerProviderFactory : ICredentialProviderFactory
{
    public string Name => "google-secret-manager";

    public IReadOnlyCollection<string> Keys { get; } = SecretManagerSettings.KeyNames;

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public bool IssuesStaticSecrets => true;

    public IReadOnlyCollection<string> KeyFileKeys { get; } = ["caFile", "auth:keyFile"];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        SecretManagerSettings.Validate(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var settings = SecretManagerSettings.Read(config);
        if (settings.Auth.Method == SecretManagerSettings.ServiceAccountKey)
        {
            LogKeyFile(config.LoggerFactory.CreateLogger("SecretlessProxy.Plugins.Google.SecretManager"), settings.CredentialName);
        }
        return new SecretManagerProvider(settings, config.TimeProvider, config.LoggerFactory);
    }

    /// <summary>Whether a credential's config signs in with a long-lived service-account key (migration debt, for the inventory).</summary>
    public static bool UsesKeyFile(Microsoft.Extensions.Configuration.IConfiguration credential) =>
        string.Equals(credential?["auth:method"], SecretManagerSettings.ServiceAccountKey, StringComparison.Ordinal);

    [LoggerMessage(EventId = 7402, Level = LogLevel.Warning, Message = "Credential {Credential} authenticates to Google with a service-account key file: the key is a long-lived secret (migration debt); move to auth.method workload-identity-federation")]
    private static partial void LogKeyFile(ILogger logger, string credential);
}
