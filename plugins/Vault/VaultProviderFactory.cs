using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Vault;

/// <summary>
/// <c>provider: vault</c> — a secret from HashiCorp Vault or OpenBao over its HTTP API: a KV v2 field, or a dynamic
/// secret with a lease (database, AWS). The proxy logs in as itself (JWT, Kubernetes service account, TLS client
/// certificate; AppRole as migration debt); a static Vault token is never read from config.
/// </summary>
public sealed partial class VaultProviderFactory : ICredentialProviderFactory
{
    public string Name => "vault";

    public IReadOnlyCollection<string> Keys { get; } = VaultKeys.Top;

    /// <summary>All of them: the config holds addresses, paths, role names and file names, never a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => Keys;

    /// <summary>The CA and the client certificate are loaded when the provider is built: a new file rebuilds it.</summary>
    public IReadOnlyCollection<string> KeyFileKeys { get; } = ["caFile", "auth:certFile", "auth:keyFile"];

    public void Validate(PluginConfig config) => VaultKeys.Validate(config);

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var settings = VaultKeys.Settings(config);
        var logger = config.LoggerFactory.CreateLogger("SecretlessProxy.Plugins.Vault");
        if (settings.Auth.Method == "approle")
        {
            LogAppRole(logger, settings.Name);
        }
        return new VaultCredentialProvider(settings, config.TimeProvider, logger);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Credential {Credential} logs in to Vault with AppRole: its secret_id is a long-lived secret (migration debt); move to auth.method jwt, kubernetes or cert")]
    private static partial void LogAppRole(ILogger logger, string credential);
}
