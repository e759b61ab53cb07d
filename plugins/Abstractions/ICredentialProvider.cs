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

    /// <summary>
    /// True when the credential is issued for the user the calling agent acts for (<see cref="CredentialRequest.OnBehalfOf"/>),
    /// so the broker passes the validated user and caches per workload and user (in memory only). Implies workload-bound.
    /// </summary>
    bool ActsOnBehalfOfUsers => false;

    /// <summary>
    /// True when its credentials carry a <see cref="Credential.ClientCertificate"/> (a private key, or a token bound to
    /// one): the broker keeps them in this replica's memory and never shares them through Redis.
    /// </summary>
    bool PresentsClientCertificate => false;

    /// <summary>
    /// Called once the broker no longer hands out <paramref name="credential"/>, which this provider (or an earlier
    /// build of it from the same settings) issued: it was revoked (by name, for its workload, or when a grant ended),
    /// or it expired in the cache, including one a refresh replaced (released when it expires, not when replaced, so
    /// work begun with it may finish). A provider whose credentials are objects it created upstream (a database role)
    /// removes them here; the default does nothing. It works from <paramref name="credential"/> alone (the provider
    /// instance that issued it may be gone after a reload), may be called more than once for one credential (every
    /// replica releases its copy), runs in the background, and reports its own failures in its logs; the broker ignores
    /// what it throws. It is not called when the proxy stops: such credentials must also expire by themselves.
    /// </summary>
    /// <param name="credential">The credential as the broker held it (its <see cref="Credential.ExpiresAt"/> possibly cut by <c>maxTtl</c>).</param>
    /// <param name="reason">Why it is released.</param>
    /// <param name="cancellationToken">Cancelled when the proxy stops.</param>
    ValueTask ReleaseAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>Why the broker releases a credential (<see cref="ICredentialProvider.ReleaseAsync"/>).</summary>
public enum CredentialRelease
{
    /// <summary>Revoked: by name or for its workload on the admin API, by another replica, when a grant ended, or revoked while it was being fetched.</summary>
    Revoked,

    /// <summary>Its lifetime ended while cached, or a refresh replaced it and its lifetime then ended.</summary>
    Expired,
}
