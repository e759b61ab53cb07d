namespace SecretlessProxy.Abstractions;

/// <summary>
/// The credential cannot be obtained right now. The message names the credential and the reason, never the
/// secret; the proxy does not call the upstream. It answers 503 when <see cref="IsOutage"/> (the issuer is
/// unreachable: try again later), else 502 (the store or issuer refused: a configuration problem).
/// </summary>
public sealed class CredentialUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CredentialUnavailableException(string credentialName, string reason, bool isOutage = false)
        : base($"credential '{credentialName}' is unavailable: {reason}")
    {
        CredentialName = credentialName;
        Reason = reason;
        IsOutage = isOutage;
    }

    /// <summary>True when the issuer could not be reached (timeout, connection refused, 5xx), as opposed to a refusal.</summary>
    public bool IsOutage { get; }

    /// <summary>The credential's name.</summary>
    public string CredentialName { get; }

    /// <summary>Why it is unavailable, safe to show to the caller.</summary>
    public string Reason { get; }
}
