namespace SecretlessProxy.Abstractions;

/// <summary>Obtains a credential. Knows nothing of caching policy, requests or injection.</summary>
public interface ICredentialProvider : IDisposable
{
    /// <summary>
    /// Returns the current credential. Throws <see cref="CredentialUnavailableException"/> with a reason that
    /// never contains the secret when the credential cannot be had.
    /// </summary>
    ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// True when the credential is issued for the calling workload (it carries the caller's identity), so it is
    /// cached per workload and never handed to another caller.
    /// </summary>
    bool IsWorkloadBound => false;
}
