using SecretlessProxy.Credentials.Shared;

namespace SecretlessProxy.Credentials;

/// <summary>The compiled <c>cache</c> section: the in-memory layer's switch and the optional Redis layer.</summary>
public sealed record CacheSettings(bool Memory, SharedCacheSettings? Redis)
{
    public static CacheSettings MemoryOnly { get; } = new(true, null);
}
