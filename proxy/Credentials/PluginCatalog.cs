using System.Collections.Frozen;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Injection;
using SecretlessProxy.Plugins.Aws;
using SecretlessProxy.Plugins.Azure;
using SecretlessProxy.Plugins.Google;
using SecretlessProxy.Plugins.Jwt;
using SecretlessProxy.Plugins.Kubernetes;
using SecretlessProxy.Plugins.OAuth2;
using SecretlessProxy.Plugins.Stores;
using SecretlessProxy.Plugins.Vault;

namespace SecretlessProxy.Credentials;

/// <summary>The credential providers and injectors the proxy knows, by the name the config selects them with.</summary>
public sealed class PluginCatalog(IEnumerable<ICredentialProviderFactory> providers, IEnumerable<ICredentialInjectorFactory> injectors)
{
    public FrozenDictionary<string, ICredentialProviderFactory> Providers { get; } =
        providers.ToFrozenDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

    public FrozenDictionary<string, ICredentialInjectorFactory> Injectors { get; } =
        injectors.ToFrozenDictionary(i => i.Name, StringComparer.OrdinalIgnoreCase);

    public static PluginCatalog CreateDefault() => new(
        [new FileProviderFactory(), new EnvProviderFactory(), new SecretDirProviderFactory(), new ClientCredentialsProviderFactory(), new TokenExchangeProviderFactory(), new JwtProviderFactory(),
         new AssumeRoleProviderFactory(), new WebIdentityProviderFactory(), new StaticKeysProviderFactory(), new SecretsManagerProviderFactory(), new KubernetesSecretProviderFactory(), new VaultProviderFactory(),
         new KeyVaultProviderFactory(), new SecretManagerProviderFactory(), new ClientCertificateProviderFactory()],
        [new HeaderInjectorFactory(), new BasicInjectorFactory(), new QueryInjectorFactory(), new SigV4InjectorFactory(), new ClientCertificateInjectorFactory()]);

    /// <summary>This catalog with more providers (the proxy's built-in ones registered from above this layer: <c>Hosting.ProxyPlugins</c>).</summary>
    public PluginCatalog With(params ICredentialProviderFactory[] more) => new(Providers.Values.Concat(more), Injectors.Values);
}
