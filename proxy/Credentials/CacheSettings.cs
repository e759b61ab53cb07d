using SecretlessProxy.Redis;

namespace SecretlessProxy.Credentials;

/// <summary>The compiled <c>cache</c> section: the in-memory layer's switch and the optional Redis layer.</summary>
public sealed record CacheSettings(bool Memory, RedisSettings? Redis)
{
    public static CacheSettings MemoryOnly { get; } = new(true, null);
}
