namespace SecretlessProxy.Credentials;

/// <summary>
/// What the broker reports about its work, for the audit trail and metrics: cache lookups per layer, credentials
/// issued or refreshed by providers (with the time the provider took), failed fetches and revocations. Calls are
/// made inline and must be cheap and never throw.
/// </summary>
public interface ICredentialObserver
{
    /// <summary>One lookup in a cache layer (per request for L1; per fetch for Redis).</summary>
    void CacheLookup(CacheLayer layer, bool hit);

    /// <summary>A provider issued a credential: a first issuance, or a refresh of one that was cached.</summary>
    void Issued(CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed);

    /// <summary>A provider failed to issue a credential.</summary>
    void FetchFailed(CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed);

    /// <summary>A credential (or one workload's copy) was revoked on this replica.</summary>
    void Revoked(CredentialBinding binding, string? workloadId, bool wasCached);

    /// <summary>As <see cref="Revoked(CredentialBinding, string?, bool)"/>, with the lease ids of what was dropped (never a secret).</summary>
    void Revoked(CredentialBinding binding, string? workloadId, bool wasCached, IReadOnlyList<string> leaseIds) => Revoked(binding, workloadId, wasCached);
}
