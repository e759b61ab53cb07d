using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Audit;

/// <summary>The lifecycle events of the audit trail, built in one place so their fields stay the same everywhere.</summary>
public static class AuditEvents
{
    public const string CredentialIssued = "credential.issued";
    public const string CredentialRefreshed = "credential.refreshed";
    public const string CredentialFetchFailed = "credential.fetch_failed";
    public const string CredentialRevoked = "credential.revoked";
    public const string CredentialExpiredUnused = "credential.expired_unused";
    public const string GrantApproved = "grant.approved";
    public const string GrantExpired = "grant.expired";
    public const string GrantRevoked = "grant.revoked";
    public const string GrantRejected = "grant.rejected";
    public const string ConfigLoaded = "config.loaded";
    public const string ConfigReloaded = "config.reloaded";
    public const string ConfigRefused = "config.refused";

    public static AuditEvent Issued(DateTimeOffset now, CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed) =>
        new(now, refresh ? CredentialRefreshed : CredentialIssued,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("workload", workloadId),
            new("static", expiresAt is null),
            new("expiresAt", expiresAt),
            new("latencyMs", Math.Round(elapsed.TotalMilliseconds, 3)),
        ]);

    public static AuditEvent FetchFailed(DateTimeOffset now, CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed) =>
        new(now, CredentialFetchFailed,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("workload", workloadId),
            new("reason", outage ? "credential_issuer_unavailable" : "credential_unavailable"),
            new("latencyMs", Math.Round(elapsed.TotalMilliseconds, 3)),
        ]);

    public static AuditEvent Revoked(DateTimeOffset now, CredentialBinding binding, string? workloadId, bool wasCached) =>
        new(now, CredentialRevoked,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("workload", workloadId),
            new("wasCached", wasCached),
        ]);

    public static AuditEvent ExpiredUnused(DateTimeOffset now, CredentialBinding binding, string? workloadId, DateTimeOffset issuedAt, DateTimeOffset expiresAt) =>
        new(now, CredentialExpiredUnused,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("workload", workloadId),
            new("issuedAt", issuedAt),
            new("expiresAt", expiresAt),
        ]);

    public static AuditEvent Loaded(DateTimeOffset now, ProxyConfig config, long generation) =>
        new(now, ConfigLoaded,
        [
            new("file", config.FilePath),
            new("generation", generation),
            new("summary", config.Summary),
        ]);

    public static AuditEvent Reloaded(DateTimeOffset now, ProxyConfig previous, ProxyConfig next, long generation) =>
        new(now, ConfigReloaded,
        [
            new("file", next.FilePath),
            new("generation", generation),
            new("summary", next.Summary),
            new("changes", ConfigChanges.Between(previous, next)),
        ]);

    /// <summary>The errors as the validator wrote them: they name file, line and key, and never echo a credential's values.</summary>
    public static AuditEvent Refused(DateTimeOffset now, string file, IReadOnlyList<ConfigError> errors) =>
        new(now, ConfigRefused,
        [
            new("file", file),
            new("errorCount", errors.Count),
            new("errors", errors.Select(e => e.ToString()).ToList()),
        ]);

    public static AuditEvent GrantApprovedEvent(DateTimeOffset now, Grants.Grant grant) =>
        new(now, GrantApproved, [.. GrantFields(grant)]);

    /// <summary>A grant ended (expired or revoked early) and the credentials issued under it were revoked.</summary>
    public static AuditEvent GrantEnded(DateTimeOffset now, Grants.Grant grant, bool expired, string? revokedBy, IReadOnlyList<string> revokedCredentials) =>
        new(now, expired ? GrantExpired : GrantRevoked,
        [
            .. GrantFields(grant),
            new("revokedBy", revokedBy),
            new("revokedCredentials", revokedCredentials),
        ]);

    /// <summary>A stored grant was not put in force: it could not be opened (forged or tampered with) or breaks the config's rules.</summary>
    public static AuditEvent GrantRejectedEvent(DateTimeOffset now, string store, string grantId, string problem) =>
        new(now, GrantRejected,
        [
            new("grant", grantId),
            new("store", store),
            new("problem", problem),
        ]);

    private static IEnumerable<KeyValuePair<string, object?>> GrantFields(Grants.Grant grant) =>
    [
        new("grant", grant.Id),
        new("identity", grant.Identity),
        new("route", grant.Route),
        new("credential", grant.Credential),
        new("from", grant.From),
        new("until", grant.Until),
        new("approver", grant.Approver),
        new("reason", grant.Reason),
        new("createdBy", grant.CreatedBy),
    ];
}
