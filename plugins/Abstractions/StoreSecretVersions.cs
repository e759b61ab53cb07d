namespace SecretlessProxy.Abstractions;

/// <summary>
/// What a provider reading a long-lived secret from a store (Secrets Manager, Key Vault, Secret Manager) remembers of
/// the version it last handed out, and the credential it hands the broker. The credential is static but carries an
/// expiry of the provider's choosing (now + <c>ttl</c>), so the broker caches it, refreshes it ahead (single flight)
/// and serves it while valid when the store is down. The same version and value keep the same
/// <see cref="SecretValue"/> (the injector's prepared value is reused); another value replaces it, and another
/// version is a rotation, which the provider logs by version (never the value).
/// </summary>
public sealed class StoreSecretVersions
{
    private (string Version, SecretValue Secret)? _last;

    /// <summary>
    /// The credential for <paramref name="text"/> at <paramref name="version"/> (empty when the store named none), and
    /// the version it replaced when this fetch is a rotation (else null).
    /// </summary>
    public (Credential Credential, string? RotatedFrom) Serve(string credentialName, string version, string text, DateTimeOffset expiresAt, DateTimeOffset? versionCreatedAt = null)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(text);
        var last = _last;
        SecretValue secret;
        string? rotatedFrom = null;
        if (last is { } previous && previous.Version == version && previous.Secret.Reveal() == text)
        {
            secret = previous.Secret;
        }
        else
        {
            secret = new SecretValue(text);
            if (last is { } replaced && replaced.Version != version)
            {
                rotatedFrom = replaced.Version;
            }
            _last = (version, secret);
        }
        var credential = new Credential(credentialName, secret)
        {
            IsStatic = true,
            Version = version.Length > 0 ? version : null,
            VersionCreatedAt = versionCreatedAt,
            ExpiresAt = expiresAt,
        };
        return (credential, rotatedFrom);
    }
}
