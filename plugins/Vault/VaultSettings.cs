namespace SecretlessProxy.Plugins.Vault;

/// <summary>One <c>provider: vault</c> credential's settings, validated (<see cref="VaultKeys"/>).</summary>
internal sealed record VaultSettings(
    string Name,
    Uri Address,
    string? Namespace,
    string? CaFile,
    TimeSpan Timeout,
    VaultAuthSettings Auth,
    VaultKvSettings? Kv,
    VaultDynamicSettings? Dynamic,
    TimeSpan RefreshInterval);

/// <summary>How the proxy logs in to Vault: <c>auth.method</c> and what that method reads.</summary>
internal sealed record VaultAuthSettings(
    string Method,
    string Mount,
    string? Role,
    string? TokenFile,
    string? CertFile,
    string? KeyFile,
    string? RoleId,
    string? SecretIdFile);

/// <summary>A field of a KV v2 secret: <c>MOUNT/data/PATH</c>, latest or a pinned version.</summary>
internal sealed record VaultKvSettings(string Mount, string Path, string Field, int? Version, string? UsernameField);

/// <summary>A dynamic secret with a lease (<c>database/creds/ROLE</c>, <c>aws/creds/ROLE</c>, <c>aws/sts/ROLE</c>).</summary>
internal sealed record VaultDynamicSettings(string Path, string? Field, string? UsernameField);
