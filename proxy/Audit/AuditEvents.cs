using SecretlessProxy.Credentials;

namespace SecretlessProxy.Audit;

/// <summary>The lifecycle events of the audit trail, built in one place so their fields stay the same everywhere. Each owner hands in names and values, never its own types.</summary>
public static class AuditEvents
{
    public const string CredentialIssued = "credential.issued";
    public const string CredentialRefreshed = "credential.refreshed";
    public const string CredentialFetchFailed = "credential.fetch_failed";
    public const string CredentialRevoked = "credential.revoked";
    public const string CredentialExpiredUnused = "credential.expired_unused";
    public const string CredentialRevokedAtIssuer = "credential.revoked_at_issuer";
    public const string CredentialIssuerRevocationFailed = "credential.issuer_revocation_failed";
    public const string CredentialNotRevocableAtIssuer = "credential.not_revocable_at_issuer";
    public const string GrantApproved = "grant.approved";
    public const string GrantExpired = "grant.expired";
    public const string GrantRevoked = "grant.revoked";
    public const string GrantRejected = "grant.rejected";
    public const string GrantRequested = "grant.requested";
    public const string GrantRequestApproved = "grant.request_approved";
    public const string GrantRequestDenied = "grant.request_denied";
    public const string GrantRequestExpired = "grant.request_expired";
    public const string ConfigLoaded = "config.loaded";
    public const string ConfigReloaded = "config.reloaded";
    public const string ConfigRefused = "config.refused";
    public const string FederationRefreshFailed = "federation.refresh_failed";

    /// <param name="leaseId">The issuer's lease id (a Vault lease), never a secret; null when the credential has none.</param>
    /// <param name="version">The store's version of the secret (a KV version, a Secrets Manager VersionId), or null.</param>
    public static AuditEvent Issued(DateTimeOffset now, CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed, string? leaseId = null, string? version = null) =>
        new(now, refresh ? CredentialRefreshed : CredentialIssued,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("store", binding.Store),
            new("workload", workloadId),
            new("static", expiresAt is null),
            new("expiresAt", expiresAt),
            new("leaseId", leaseId),
            new("version", version),
            new("latencyMs", Math.Round(elapsed.TotalMilliseconds, 3)),
        ]);

    public static AuditEvent FetchFailed(DateTimeOffset now, CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed) =>
        new(now, CredentialFetchFailed,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("store", binding.Store),
            new("workload", workloadId),
            new("reason", outage ? "credential_issuer_unavailable" : "credential_unavailable"),
            new("latencyMs", Math.Round(elapsed.TotalMilliseconds, 3)),
        ]);

    /// <param name="leaseIds">The lease ids of the credentials dropped (never their secrets); empty when none had one.</param>
    public static AuditEvent Revoked(DateTimeOffset now, CredentialBinding binding, string? workloadId, bool wasCached, IReadOnlyList<string>? leaseIds = null) =>
        new(now, CredentialRevoked,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("store", binding.Store),
            new("workload", workloadId),
            new("wasCached", wasCached),
            new("leaseIds", leaseIds ?? []),
        ]);

    /// <summary>
    /// What the issuer did with a credential the broker released: revoked it, failed (with the reason: status, OAuth2
    /// error code, unreachable), or cannot (static secrets, AWS STS sessions, with why). <c>release</c> is
    /// <c>revoked</c> (admin, workload, grant end, another replica) or <c>expired</c> (dropped unused from the cache).
    /// </summary>
    public static AuditEvent AtIssuer(DateTimeOffset now, CredentialBinding binding, string? workloadId, Abstractions.CredentialRelease release, Abstractions.IssuerRevocation result) =>
        new(now, result.Outcome switch
        {
            Abstractions.IssuerRevocationOutcome.Revoked => CredentialRevokedAtIssuer,
            Abstractions.IssuerRevocationOutcome.Failed => CredentialIssuerRevocationFailed,
            _ => CredentialNotRevocableAtIssuer,
        },
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("workload", workloadId),
            new("issuer", result.Issuer),
            new("item", result.Item),
            new("release", release == Abstractions.CredentialRelease.Revoked ? "revoked" : "expired"),
            new("reason", result.Reason),
        ]);

    public static AuditEvent ExpiredUnused(DateTimeOffset now, CredentialBinding binding, string? workloadId, DateTimeOffset issuedAt, DateTimeOffset expiresAt) =>
        new(now, CredentialExpiredUnused,
        [
            new("credential", binding.Name),
            new("provider", binding.ProviderName),
            new("store", binding.Store),
            new("workload", workloadId),
            new("issuedAt", issuedAt),
            new("expiresAt", expiresAt),
        ]);

    public static AuditEvent Loaded(DateTimeOffset now, string file, long generation, string summary) =>
        new(now, ConfigLoaded, [new("file", file), new("generation", generation), new("summary", summary)]);

    /// <summary><paramref name="changes"/>: per section, the names added, removed and changed.</summary>
    public static AuditEvent Reloaded(DateTimeOffset now, string file, long generation, string summary, IReadOnlyList<KeyValuePair<string, object?>> changes) =>
        new(now, ConfigReloaded, [new("file", file), new("generation", generation), new("summary", summary), new("changes", changes)]);

    /// <summary>The errors as the validator wrote them: they name file, line and key, and never echo a credential's values.</summary>
    public static AuditEvent Refused(DateTimeOffset now, string file, IReadOnlyList<string> errors) =>
        new(now, ConfigRefused, [new("file", file), new("errorCount", errors.Count), new("errors", errors)]);

    /// <summary>A federated trust domain's bundle could not be refreshed (the last good one, if any, stays in force).</summary>
    public static AuditEvent FederationFailed(DateTimeOffset now, string trustDomain, string endpoint, string reason, bool kept) =>
        new(now, FederationRefreshFailed, [new("trustDomain", trustDomain), new("endpoint", endpoint), new("reason", reason), new("lastGoodKept", kept)]);

    /// <param name="grant">The grant's fields (id, identity, route, credential, window, approver, reason, creator).</param>
    public static AuditEvent GrantApprovedEvent(DateTimeOffset now, IReadOnlyList<KeyValuePair<string, object?>> grant) => new(now, GrantApproved, grant);

    /// <summary>A grant ended (expired or revoked early) and the credentials issued under it were revoked.</summary>
    public static AuditEvent GrantEnded(DateTimeOffset now, IReadOnlyList<KeyValuePair<string, object?>> grant, bool expired, string? revokedBy, IReadOnlyList<string> revokedCredentials) =>
        new(now, expired ? GrantExpired : GrantRevoked, [.. grant, new("revokedBy", revokedBy), new("revokedCredentials", revokedCredentials)]);

    /// <summary>A grant request was made, approved (with the grant it became and the authenticated approver), denied or expired unanswered.</summary>
    public static AuditEvent GrantRequestEvent(DateTimeOffset now, string kind, IReadOnlyList<KeyValuePair<string, object?>> fields) => new(now, kind, fields);

    /// <summary>A stored grant was not put in force: it could not be opened (forged or tampered with) or breaks the config's rules.</summary>
    public static AuditEvent GrantRejectedEvent(DateTimeOffset now, string store, string grantId, string problem) =>
        new(now, GrantRejected, [new("grant", grantId), new("store", store), new("problem", problem)]);
}
