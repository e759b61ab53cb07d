using SecretlessProxy.Abstractions;

namespace SecretlessProxy.DynamicUsers;

/// <summary>
/// Dropping a dynamic database user when the broker releases it, as a revocation at the issuer (the database): the
/// outcome goes to the audit trail as <c>credential.revoked_at_issuer</c> or <c>credential.issuer_revocation_failed</c>,
/// with the user's name (never its password). A user already gone counts as revoked: it logs in nowhere.
/// </summary>
internal static class UserRelease
{
    /// <param name="user">The user (or role) the credential names.</param>
    /// <param name="kind"><c>role</c> or <c>user</c>, for the record.</param>
    /// <param name="issuer">Where: the engine and the server's address.</param>
    /// <param name="drop">Drops it; true when it was there. Throws <see cref="CredentialUnavailableException"/> when it could not.</param>
    /// <param name="dropped">Logs a drop (true: dropped, false: already gone).</param>
    /// <param name="failed">Logs a failure with its reason.</param>
    public static async ValueTask<IssuerRevocation> DropAsync(string user, string kind, string issuer, Func<Task<bool>> drop, Action<bool> dropped, Action<string> failed)
    {
        ArgumentNullException.ThrowIfNull(drop);
        ArgumentNullException.ThrowIfNull(dropped);
        ArgumentNullException.ThrowIfNull(failed);
        var item = kind + " " + user;
        try
        {
            dropped(await drop());
            return IssuerRevocation.Done(issuer) with { Item = item };
        }
        catch (CredentialUnavailableException ex)
        {
            failed(ex.Reason);
            return IssuerRevocation.Failure(issuer, ex.Reason) with { Item = item };
        }
        catch (OperationCanceledException)
        {
            failed("the proxy is stopping");
            throw;
        }
    }
}
