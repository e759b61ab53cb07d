using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Credentials;

/// <summary>
/// Owns caching for credentials that expire: serves a cached credential until its refresh point, then
/// refreshes ahead of expiry in the background while still serving it; fetches once however many callers miss
/// at the same time; cuts lifetimes to the credential's <c>maxTtl</c>; and keeps serving a still-valid
/// credential when a refresh fails. Credentials without an expiry (static stores, which watch their own
/// files) pass straight through. No I/O on a cache hit.
/// </summary>
public sealed partial class CredentialBroker(TimeProvider time, ILogger<CredentialBroker> logger)
{
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(5);

    public ValueTask<Credential> GetAsync(CredentialBinding binding, CredentialRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(request);
        var cache = binding.CacheFor(request);
        if (cache.PassThrough)
        {
            return binding.Provider.GetCredentialAsync(request, cancellationToken);
        }
        var entry = cache.Current;
        if (entry is not null)
        {
            var now = time.GetUtcNow();
            if (now < entry.ExpiresAt)
            {
                if (now >= entry.RefreshAt)
                {
                    _ = RefreshInBackgroundAsync(binding, cache, request);
                }
                return ValueTask.FromResult(entry.Credential);
            }
        }
        return new ValueTask<Credential>(Fetch(binding, cache, request).WaitAsync(cancellationToken));
    }

    /// <summary>Drops the cached credential: the next request fetches a new one. Returns whether one was cached.</summary>
    public bool Revoke(CredentialBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var had = false;
        foreach (var cache in binding.AllCaches)
        {
            lock (cache.Gate)
            {
                had |= cache.Current is not null;
                cache.Current = null;
                cache.Generation++;
                // A fetch already in flight may carry a token issued before the revocation: let it finish, but do
                // not let late callers join it.
                cache.InFlight = null;
            }
        }
        Log.Revoked(logger, binding.Name, had);
        return had;
    }

    /// <summary>The single fetch for this credential: joins the one in flight or starts it.</summary>
    private Task<Credential> Fetch(CredentialBinding binding, CredentialCache cache, CredentialRequest request)
    {
        lock (cache.Gate)
        {
            if (cache.InFlight is { IsCompleted: false } running)
            {
                return running;
            }
            var task = FetchCoreAsync(binding, cache, request, cache.Generation);
            cache.InFlight = task;
            return task;
        }
    }

    private async Task<Credential> FetchCoreAsync(CredentialBinding binding, CredentialCache cache, CredentialRequest request, int generation)
    {
        await Task.Yield();
        var fetchedAt = time.GetUtcNow();
        // Not the caller's token: one caller giving up must not fail the fetch the others wait for.
        var credential = await binding.Provider.GetCredentialAsync(request, CancellationToken.None);
        if (credential.ExpiresAt is not { } expiresAt)
        {
            cache.PassThrough = true;
            return credential;
        }
        if (binding.MaxTtl is { } maxTtl && expiresAt > fetchedAt + maxTtl)
        {
            expiresAt = fetchedAt + maxTtl;
            credential = new Credential(credential.Name, credential.Secret) { Username = credential.Username, ExpiresAt = expiresAt, IsStatic = credential.IsStatic };
        }
        var lifetime = expiresAt - fetchedAt;
        // Jitter (up to 5% of the lifetime, earlier only) spreads the refreshes of many replicas.
        var jitter = lifetime * (Random.Shared.NextDouble() * 0.05);
        var refreshAt = fetchedAt + lifetime * binding.RefreshFraction - jitter;
        lock (cache.Gate)
        {
            if (cache.Generation == generation)
            {
                cache.Current = new CachedCredential(credential, expiresAt, refreshAt);
            }
        }
        Log.Issued(logger, binding.Name, binding.ProviderName, expiresAt);
        return credential;
    }

    private async Task RefreshInBackgroundAsync(CredentialBinding binding, CredentialCache cache, CredentialRequest request)
    {
        lock (cache.Gate)
        {
            if (cache.InFlight is { IsCompleted: false })
            {
                return;
            }
        }
        try
        {
            await Fetch(binding, cache, request);
            Log.Refreshed(logger, binding.Name);
        }
        catch (Exception ex) when (ex is CredentialUnavailableException or HttpRequestException or TimeoutException or OperationCanceledException)
        {
            // Keep serving the still-valid credential; try again a little later, never after expiry.
            var entry = cache.Current;
            if (entry is not null)
            {
                var retry = time.GetUtcNow() + RetryAfterFailure;
                cache.Current = entry with { RefreshAt = retry < entry.ExpiresAt ? retry : entry.ExpiresAt };
            }
            Log.RefreshFailed(logger, binding.Name, ex is CredentialUnavailableException unavailable ? unavailable.Reason : ex.GetType().Name);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Credential {Credential} issued by {Provider}, valid until {ExpiresAt:O}")]
        public static partial void Issued(ILogger logger, string credential, string provider, DateTimeOffset expiresAt);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Credential {Credential} refreshed ahead of expiry")]
        public static partial void Refreshed(ILogger logger, string credential);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Credential {Credential} revoked (a cached one was dropped: {WasCached})")]
        public static partial void Revoked(ILogger logger, string credential, bool wasCached);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Refreshing credential {Credential} failed ({Reason}); serving the cached one while it is valid")]
        public static partial void RefreshFailed(ILogger logger, string credential, string reason);
    }
}
