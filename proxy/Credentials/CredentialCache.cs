using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Credentials;

/// <summary>The cached state of one credential: the current entry and the fetch in flight, if any.</summary>
public sealed class CredentialCache
{
    internal Lock Gate { get; } = new();

    internal volatile CachedCredential? Current;

    internal Task<Credential>? InFlight;

    /// <summary>Set once the provider returned a credential without expiry: nothing to cache, call it directly.</summary>
    internal volatile bool PassThrough;

    /// <summary>Bumped by every revocation; a fetch stores its result only if no revocation happened meanwhile.</summary>
    internal int Generation;

    /// <summary>
    /// Credentials a refresh replaced that are still valid (under <see cref="Gate"/>): they are released when they expire
    /// or are revoked, not when replaced, so what was begun with them (a database session) may go on until then.
    /// </summary>
    internal List<CachedCredential>? Retired;
}

/// <summary>
/// A credential with the instants the broker acts on: when it was issued, when it expires (already capped by
/// maxTtl), until when it is handed out (a safety margin before expiry, for clock granularity and transit), and
/// when it is refreshed in the background.
/// </summary>
internal sealed record CachedCredential(Credential Credential, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, DateTimeOffset UsableUntil, DateTimeOffset RefreshAt)
{
    /// <summary>Whether the provider issued it on this replica or it was read from Redis.</summary>
    public CredentialSource Source { get; init; } = CredentialSource.Issued;
}
