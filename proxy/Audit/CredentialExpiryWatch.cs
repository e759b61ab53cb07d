using System.Runtime.CompilerServices;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Audit;

/// <summary>
/// Writes <c>credential.expired_unused</c> when a cached credential reaches its expiry: one in use is refreshed
/// ahead of expiry, so one that expires was not used since its refresh point. Checks the caches once a second
/// (reads only; no lock is taken on the request path).
/// </summary>
internal sealed class CredentialExpiryWatch(Func<IEnumerable<CredentialBinding>> credentials, DecisionLog log, TimeProvider time) : IDisposable
{
    private readonly ConditionalWeakTable<object, object> _reported = [];
    private ITimer? _timer;

    public void Start(TimeSpan interval) => _timer = time.CreateTimer(_ => Check(), null, interval, interval);

    internal void Check()
    {
        var now = time.GetUtcNow();
        foreach (var binding in credentials())
        {
            foreach (var (workload, cache) in binding.CachesByWorkload)
            {
                if (cache.Current is { } entry && now >= entry.ExpiresAt && _reported.TryAdd(entry, entry))
                {
                    log.Write(AuditEvents.ExpiredUnused(now, binding, workload, entry.IssuedAt, entry.ExpiresAt));
                }
            }
        }
    }

    public void Dispose() => _timer?.Dispose();
}
