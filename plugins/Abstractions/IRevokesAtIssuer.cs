namespace SecretlessProxy.Abstractions;

/// <summary>
/// A provider that can ask the issuer of a credential it issued to revoke it (OAuth2 token revocation, RFC 7009), or
/// that knows its issuer cannot (AWS STS sessions). The broker calls it for every credential it stops handing out
/// (revoked by name, for a workload, by another replica, when a grant ends; expired or replaced in its cache), in the
/// background and before <see cref="ICredentialProvider.ReleaseAsync"/>; the answer goes to the audit trail. Nothing
/// in the proxy waits for it: access has already ended when it runs. It works from the credential alone (the provider
/// that issued it may be gone after a reload), reports an issuer's failure as <see cref="IssuerRevocationOutcome.Failed"/>
/// rather than throwing, and never puts the credential's value in a reason. A provider whose credentials are only
/// sometimes revocable (Vault: leases yes, KV values no) answers null for the others, which count as static secrets.
/// Providers that make what they issue (database users, Vault leases) drop or revoke it here, so the outcome is audited.
/// </summary>
public interface IRevokesAtIssuer
{
    /// <param name="credential">The credential as the broker held it.</param>
    /// <param name="reason">Why the broker released it.</param>
    /// <param name="cancellationToken">Cancelled when the proxy stops.</param>
    /// <returns>What the issuer did, or null when this credential is not one the provider revokes.</returns>
    ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken);
}

/// <summary>What became of a request to revoke a credential at its issuer.</summary>
public enum IssuerRevocationOutcome
{
    /// <summary>The issuer accepted the revocation: the credential no longer works anywhere.</summary>
    Revoked,

    /// <summary>The issuer could not be asked or refused (unreachable, timed out, an error answer).</summary>
    Failed,

    /// <summary>The issuer offers no way to revoke this credential alone; it stays valid until it expires (or is rotated).</summary>
    NotRevocable,
}

/// <param name="Outcome">What happened.</param>
/// <param name="Issuer">Where: the revocation endpoint without user info and query, or the issuer's name.</param>
/// <param name="Reason">Why it failed or is not possible; null when revoked. Never holds a secret.</param>
public sealed record IssuerRevocation(IssuerRevocationOutcome Outcome, string Issuer, string? Reason)
{
    /// <summary>What was revoked, by a name that is not a secret (a Vault lease id, a database user); null for a token.</summary>
    public string? Item { get; init; }

    /// <summary>The issuer revoked it.</summary>
    public static IssuerRevocation Done(string issuer) => new(IssuerRevocationOutcome.Revoked, issuer, null);

    /// <summary>The issuer could not be asked, or refused.</summary>
    public static IssuerRevocation Failure(string issuer, string reason) => new(IssuerRevocationOutcome.Failed, issuer, reason);

    /// <summary>The issuer cannot revoke this credential alone.</summary>
    public static IssuerRevocation Impossible(string issuer, string reason) => new(IssuerRevocationOutcome.NotRevocable, issuer, reason);
}
