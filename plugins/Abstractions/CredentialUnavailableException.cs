namespace SecretlessProxy.Abstractions;

/// <summary>
/// The credential cannot be obtained right now. The message names the credential and the reason, never the
/// secret; the proxy answers 502 and does not call the upstream.
/// </summary>
public sealed class CredentialUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CredentialUnavailableException(string credentialName, string reason)
        : base($"credential '{credentialName}' is unavailable: {reason}")
    {
        CredentialName = credentialName;
        Reason = reason;
    }

    /// <summary>The credential's name.</summary>
    public string CredentialName { get; }

    /// <summary>Why it is unavailable, safe to show to the caller.</summary>
    public string Reason { get; }
}
