namespace SecretlessProxy.Abstractions;

/// <summary>An upstream credential as a provider returns it. Its <see cref="ToString"/> never shows the secret.</summary>
public sealed class Credential
{
    /// <summary>Creates a credential.</summary>
    public Credential(string name, SecretValue secret)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(secret);
        Name = name;
        Secret = secret;
    }

    /// <summary>The credential's name in the config (<c>credentials.NAME</c>).</summary>
    public string Name { get; }

    /// <summary>The secret: a token, API key or password.</summary>
    public SecretValue Secret { get; }

    /// <summary>A user name that goes with the secret (HTTP Basic), when the store has one.</summary>
    public string? Username { get; init; }

    /// <summary>When the credential stops being valid; null when the store does not say.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>True for long-lived secrets read from a store (migration debt), false for minted ones.</summary>
    public bool IsStatic { get; init; }

    /// <summary>
    /// A second secret that goes with <see cref="Secret"/>, when the issuer returns one: the session token of
    /// AWS STS session credentials (whose <see cref="Username"/> is the access key id and <see cref="Secret"/>
    /// the secret access key). Null for single-secret credentials.
    /// </summary>
    public SecretValue? SessionToken { get; init; }

    /// <summary>
    /// The issuer's handle on the credential's lease, when it has one (a Vault lease id such as
    /// <c>database/creds/app/abc123</c>): not a secret, used to renew or revoke the lease. Null otherwise.
    /// </summary>
    public string? LeaseId { get; init; }

    /// <summary>
    /// The store's version of the secret, when it has one (a Vault KV version number, an AWS Secrets Manager
    /// <c>VersionId</c>): not a secret, shown in the inventory. Null otherwise.
    /// </summary>
    public string? Version { get; init; }

    /// <summary>When the store says this version of the secret was created (its age, as migration debt); null when it does not say.</summary>
    public DateTimeOffset? VersionCreatedAt { get; init; }

    /// <summary>
    /// The certificate (with its private key) the proxy presents on the TLS connection to the upstream the credential
    /// goes to: the credential itself (<c>client-certificate</c>), or the one a token is bound to (RFC 8705
    /// <c>cnf.x5t#S256</c>). Connections presenting it are pooled apart from every other. Null for most credentials.
    /// </summary>
    public ClientCertificate? ClientCertificate { get; init; }

    /// <summary>A copy with another expiry; every other part (secrets included) is kept.</summary>
    public Credential WithExpiresAt(DateTimeOffset? expiresAt) => new(Name, Secret)
    {
        Username = Username,
        ExpiresAt = expiresAt,
        IsStatic = IsStatic,
        SessionToken = SessionToken,
        LeaseId = LeaseId,
        Version = Version,
        VersionCreatedAt = VersionCreatedAt,
        ClientCertificate = ClientCertificate,
    };

    /// <inheritdoc />
    public override string ToString() => $"Credential {Name} (secret {SecretValue.Redacted})";
}
