namespace SecretlessProxy.Abstractions;

/// <summary>
/// A value a store client holds until a margin before it expires (an access token, AWS session credentials to sign
/// with): one fetch for concurrent callers (single flight behind a semaphore), the held value for everyone else.
/// </summary>
public sealed class HeldUntilExpiry<T> : IDisposable
    where T : class
{
    private readonly TimeSpan _margin;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private (T Value, DateTimeOffset ExpiresAt)? _held;

    /// <summary>Holds values until <paramref name="margin"/> before they expire, by <paramref name="time"/>.</summary>
    public HeldUntilExpiry(TimeSpan margin, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _margin = margin;
        _time = time;
    }

    /// <summary>
    /// The held value while it is valid for longer than the margin; else the one <paramref name="fetch"/> gets, which is
    /// then held (an expiry of <see cref="DateTimeOffset.MinValue"/> holds nothing: the next call fetches again).
    /// </summary>
    public async ValueTask<T> GetAsync(Func<CancellationToken, Task<(T Value, DateTimeOffset ExpiresAt)>> fetch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(fetch);
        if (Fresh() is { } held)
        {
            return held;
        }
        await _lock.WaitAsync(cancellationToken);
        try
        {
            if (Fresh() is { } again)
            {
                return again;
            }
            var fetched = await fetch(cancellationToken);
            _held = fetched;
            return fetched.Value;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Forgets the held value (the service refused it: revoked, or expired early).</summary>
    public void Drop() => _held = null;

    private T? Fresh() => _held is { } held && held.ExpiresAt > _time.GetUtcNow() + _margin ? held.Value : null;

    /// <summary>Disposes the semaphore.</summary>
    public void Dispose() => _lock.Dispose();
}
