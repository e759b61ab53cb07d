using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Credentials;

/// <summary>A configured credential: where it comes from, how it is put on a request, which inbound headers to strip.</summary>
public sealed class CredentialBinding(string name, string providerName, ICredentialProvider provider, string injectorName, ICredentialInjector injector) : IDisposable
{
    public string Name { get; } = name;

    public string ProviderName { get; } = providerName;

    public ICredentialProvider Provider { get; } = provider;

    public string InjectorName { get; } = injectorName;

    public ICredentialInjector Injector { get; } = injector;

    public void Dispose() => Provider.Dispose();
}
