using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Kubernetes;

/// <summary>
/// <c>provider: kubernetes-secret</c> — one key of a Kubernetes Secret read through the API server (the
/// <c>KubernetesClient</c> library) with the pod's service-account token, kept current by a watch: a changed Secret
/// applies without polling. Beside <c>secret-dir</c> (a mounted Secret) for Secrets a pod does not mount.
/// </summary>
public sealed class KubernetesSecretProviderFactory : ICredentialProviderFactory
{
    public string Name => "kubernetes-secret";

    public IReadOnlyCollection<string> Keys { get; } = KubernetesSecretSettings.KeyNames;

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public bool IssuesStaticSecrets => true;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        KubernetesSecretSettings.Validate(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new KubernetesSecretProvider(KubernetesSecretSettings.Read(config), config.TimeProvider, config.LoggerFactory);
    }
}
