using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Stands in, in a config compiled offline, for a provider that would read key files when built (those files are
/// mounted only at run time). Offline commands never serve a request; asked anyway, it says why it cannot.
/// </summary>
internal sealed class OfflineCredentialProvider(string name) : ICredentialProvider
{
    public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken) =>
        throw new CredentialUnavailableException(name, "the config was compiled offline: this provider's key files were not read");

    public void Dispose()
    {
    }
}
