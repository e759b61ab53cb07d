namespace SecretlessProxy.Credentials;

/// <summary>The cache layers the broker looks in.</summary>
public enum CacheLayer
{
    Memory,
    Redis,
}
