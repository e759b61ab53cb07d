namespace SecretlessProxy.Abstractions;

/// <summary>The credential cannot be put on the request (for example its value holds CR/LF). Never holds the secret.</summary>
public sealed class CredentialInjectionException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CredentialInjectionException(string credentialName, string reason)
        : base($"credential '{credentialName}' cannot be injected: {reason}")
    {
        CredentialName = credentialName;
        Reason = reason;
    }

    /// <summary>The credential's name.</summary>
    public string CredentialName { get; }

    /// <summary>Why, safe to show to the caller.</summary>
    public string Reason { get; }
}
