namespace SecretlessProxy.Redis;

/// <summary>
/// The Redis replicas share, from <c>cache.redis</c>: the credential cache's second layer, revocations and
/// grants travel through it. Null settings mean the in-memory cache alone (the embedded default).
/// </summary>
public sealed record RedisSettings
{
    /// <summary>A StackExchange.Redis configuration string (hosts, Sentinel service name, TLS…). Never logged: it may hold a password.</summary>
    public required string Configuration { get; init; }

    /// <summary>The password, when read from <c>passwordFile</c> (kept out of the config file).</summary>
    public string? Password { get; init; }

    /// <summary>Prefix of every key and channel the proxy uses, so several deployments can share one Redis.</summary>
    public required string KeyPrefix { get; init; }

    /// <summary>The key that seals new values, then keys that may still open older ones (rotation).</summary>
    public required CacheKeyRing Keys { get; init; }

    /// <summary>How long one replica may hold the fetch lock of a credential before others fetch themselves.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest one Redis operation may take before the proxy carries on without it.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>What must match for a running connection to be kept on reload (the key ring may change freely).</summary>
    public string ConnectionKey => $"{Configuration}\n{Password}\n{KeyPrefix}\n{OperationTimeout}";
}
