using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Azure;

/// <summary>
/// <c>provider: azure-key-vault</c> — one secret of an Azure Key Vault, read with Azure's own
/// <c>Azure.Security.KeyVault.Secrets</c> client. The proxy signs in to Microsoft Entra ID with
/// <c>Azure.Identity</c>: workload identity (a federated token from a file as the client assertion) or a client
/// certificate. A client secret in config is refused.
/// </summary>
public sealed class KeyVaultProviderFactory : ICredentialProviderFactory
{
    public string Name => "azure-key-vault";

    public IReadOnlyCollection<string> Keys { get; } = KeyVaultSettings.KeyNames;

    /// <summary>Names, URLs and settings; <c>clientSecret</c> is refused and never echoed.</summary>
    public IReadOnlyCollection<string> EchoableKeys { get; } = [.. KeyVaultSettings.KeyNames.Where(k => k != "clientSecret")];

    public bool IssuesStaticSecrets => true;

    public IReadOnlyCollection<string> KeyFileKeys { get; } = ["caFile", "auth:certificateFile", "auth:keyFile"];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        KeyVaultSettings.Validate(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new KeyVaultProvider(KeyVaultSettings.Read(config), config.TimeProvider, config.LoggerFactory);
    }
}
