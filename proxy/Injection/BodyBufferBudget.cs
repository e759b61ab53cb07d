namespace SecretlessProxy.Injection;

/// <summary>
/// How many request-body bytes all requests together may hold in memory while they are read for signing. Bytes
/// are reserved as they arrive (never on a <c>Content-Length</c> promise), in whole segments, and released when the
/// request ends; a request that would pass the limit is answered 503 with <c>Retry-After</c> instead of letting the
/// heap grow until something fails with an out-of-memory error.
/// </summary>
public sealed class BodyBufferBudget
{
    /// <summary>The default limit: 64 MiB across all requests.</summary>
    public const long DefaultLimit = 64L * 1024 * 1024;

    private long _inUse;

    /// <summary>The limit in force (the config's <c>limits.maxBufferedBodyBytes</c>).</summary>
    public long Limit { get; set; } = DefaultLimit;

    /// <summary>Bytes reserved now, across requests.</summary>
    public long InUse => Interlocked.Read(ref _inUse);

    /// <summary>The most ever reserved at once since start.</summary>
    public long HighWater { get; private set; }

    public bool TryReserve(long bytes)
    {
        while (true)
        {
            var current = Interlocked.Read(ref _inUse);
            var next = current + bytes;
            if (next > Limit)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _inUse, next, current) == current)
            {
                if (next > HighWater)
                {
                    HighWater = next;
                }
                return true;
            }
        }
    }

    public void Release(long bytes) => Interlocked.Add(ref _inUse, -bytes);
}
