namespace SecretlessProxy.Credentials;

/// <summary>Where the credential a request was served came from (the audit field <c>credentialSource</c>).</summary>
public enum CredentialSource
{
    /// <summary>No credential was served.</summary>
    None,

    /// <summary>This replica's in-memory cache (L1): no I/O.</summary>
    Memory,

    /// <summary>The shared Redis cache (L2): issued earlier, possibly by another replica.</summary>
    Redis,

    /// <summary>Freshly issued by the provider for this request (a cache miss or an expired entry).</summary>
    Issued,

    /// <summary>A static store (file, env, secret-dir) read directly: never cached by the broker.</summary>
    Store,
}
