namespace SecretlessProxy.Abstractions;

/// <summary>
/// A credential kept per user (<see cref="ICredentialProvider.ActsOnBehalfOfUsers"/>) has no secret for the user the
/// calling agent acts for, or the user's subject cannot name one: the call is refused (403), it is not an outage or a
/// configuration problem. The reason names the user and why, never a secret; no other user's secret is used instead.
/// </summary>
public sealed class UserCredentialMissingException : Exception
{
    /// <summary>Creates the exception.</summary>
    public UserCredentialMissingException(string credentialName, string reason)
        : base($"credential '{credentialName}' has no secret for the user: {reason}")
    {
        CredentialName = credentialName;
        Reason = reason;
    }

    /// <summary>The credential's name.</summary>
    public string CredentialName { get; }

    /// <summary>Why there is no secret for the user, safe to show to the caller.</summary>
    public string Reason { get; }
}
