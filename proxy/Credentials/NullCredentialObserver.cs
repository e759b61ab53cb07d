namespace SecretlessProxy.Credentials;

/// <summary>Reports nothing (the default, and unit tests).</summary>
public sealed class NullCredentialObserver : ICredentialObserver
{
    public static NullCredentialObserver Instance { get; } = new();

    public void CacheLookup(CacheLayer layer, bool hit)
    {
    }

    public void Issued(CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed)
    {
    }

    public void FetchFailed(CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed)
    {
    }

    public void Revoked(CredentialBinding binding, string? workloadId, bool wasCached)
    {
    }
}
