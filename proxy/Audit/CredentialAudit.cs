using SecretlessProxy.Credentials;

namespace SecretlessProxy.Audit;

/// <summary>Turns what the credential broker reports into audit events (and, through <see cref="Next"/>, metrics).</summary>
internal sealed class CredentialAudit(DecisionLog log, TimeProvider time, ICredentialObserver? next = null) : ICredentialObserver
{
    private readonly ICredentialObserver _next = next ?? NullCredentialObserver.Instance;

    public ICredentialObserver Next => _next;

    public void CacheLookup(CacheLayer layer, bool hit) => _next.CacheLookup(layer, hit);

    public void Issued(CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed)
    {
        // The broker stored what it issued before telling us: the lease and version are read from the cache, never the secret.
        var held = (binding.Provider.IsWorkloadBound && workloadId is not null ? binding.CacheOfWorkload(workloadId) : binding.Cache)?.Current?.Credential;
        log.Write(AuditEvents.Issued(time.GetUtcNow(), binding, workloadId, expiresAt, refresh, elapsed, held?.LeaseId, held?.Version));
        _next.Issued(binding, workloadId, expiresAt, refresh, elapsed);
    }

    public void FetchFailed(CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed)
    {
        log.Write(AuditEvents.FetchFailed(time.GetUtcNow(), binding, workloadId, outage, elapsed));
        _next.FetchFailed(binding, workloadId, outage, elapsed);
    }

    public void Revoked(CredentialBinding binding, string? workloadId, bool wasCached, IReadOnlyList<string> leaseIds)
    {
        log.Write(AuditEvents.Revoked(time.GetUtcNow(), binding, workloadId, wasCached, leaseIds));
        _next.Revoked(binding, workloadId, wasCached, leaseIds);
    }

    public void Revoked(CredentialBinding binding, string? workloadId, bool wasCached)
    {
        log.Write(AuditEvents.Revoked(time.GetUtcNow(), binding, workloadId, wasCached));
        _next.Revoked(binding, workloadId, wasCached);
    }
}
