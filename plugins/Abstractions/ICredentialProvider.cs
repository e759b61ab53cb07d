namespace SecretlessProxy.Abstractions;

/// <summary>Obtains a credential. Knows nothing of caching policy, requests or injection.</summary>
public interface ICredentialProvider : IDisposable
{
    /// <summary>
    /// Returns the current credential. Throws <see cref="CredentialUnavailableException"/> with a reason that
    /// never contains the secret when the credential cannot be had.
    /// </summary>
    ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken);
}
