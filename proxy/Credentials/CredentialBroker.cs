using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials.Redis;

namespace SecretlessProxy.Credentials;

/// <summary>
/// Owns caching for credentials that expire: serves a cached credential until its refresh point, then
/// refreshes ahead of expiry in the background while still serving it; fetches once however many callers miss
/// at the same time (and, with Redis, once across replicas); cuts lifetimes to the credential's <c>maxTtl</c>;
/// and keeps serving a still-valid credential when a refresh fails. Credentials without an expiry (static
/// stores, which watch their own files) pass straight through. No I/O on an in-memory hit. Tells the provider when a
/// credential it issued is no longer handed out (<see cref="ICredentialProvider.ReleaseAsync"/>): revoked, or expired
/// (a replaced one when it expires), and asks the issuer to revoke it where the provider can (<see cref="IRevokesAtIssuer"/>).
/// </summary>
public sealed partial class CredentialBroker(TimeProvider time, SharedCredentialStore shared, ILogger<CredentialBroker> logger, ICredentialObserver? observer = null) : IDisposable
{
    private readonly ICredentialObserver _observer = observer ?? NullCredentialObserver.Instance;
    private readonly CancellationTokenSource _stopping = new();

    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MinMargin = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxMargin = TimeSpan.FromSeconds(30);

    private volatile bool _memory = true;

    /// <summary>Applies the <c>cache</c> section of a (re)loaded config.</summary>
    public void Configure(CacheSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _memory = settings.Memory || settings.Redis is null;
    }

    /// <param name="sink">Told where the credential came from (memory, Redis, a fresh issuance, a static store).</param>
    /// <summary>The credential for <paramref name="caller"/> on <paramref name="route"/> (workload-bound providers issue it for that caller).</summary>
    /// <param name="user">The user the caller acts for (on-behalf-of providers): cached per workload and user, in memory only.</param>
    public ValueTask<Credential> GetAsync(CredentialBinding binding, Identity.WorkloadIdentity caller, string route, CancellationToken cancellationToken, ICredentialSourceSink? sink = null,
        ActingUser? user = null)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(caller);
        var request = new CredentialRequest(binding.Name, route, caller.SpiffeId.Value) { OnBehalfOf = binding.Provider.ActsOnBehalfOfUsers ? user : null };
        return GetAsync(binding, request, cancellationToken, sink);
    }

    /// <summary>The credential for a request as providers see it (the plugin contract carries the workload as its SPIFFE ID text).</summary>
    public ValueTask<Credential> GetAsync(CredentialBinding binding, CredentialRequest request, CancellationToken cancellationToken, ICredentialSourceSink? sink = null)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(request);
        var cache = binding.CacheFor(request);
        if (cache.PassThrough)
        {
            sink?.Served(CredentialSource.Store, null);
            return binding.Provider.GetCredentialAsync(request, cancellationToken);
        }
        var entry = cache.Current;
        if (_memory)
        {
            if (entry is not null)
            {
                var now = time.GetUtcNow();
                if (now < entry.UsableUntil)
                {
                    _observer.CacheLookup(CacheLayer.Memory, hit: true);
                    if (now >= entry.RefreshAt)
                    {
                        _ = RefreshInBackgroundAsync(binding, cache, request);
                    }
                    sink?.Served(CredentialSource.Memory, entry.ExpiresAt);
                    return ValueTask.FromResult(entry.Credential);
                }
            }
            _observer.CacheLookup(CacheLayer.Memory, hit: false);
        }
        var fetch = Fetch(binding, cache, request);
        return sink is null ? new ValueTask<Credential>(fetch.WaitAsync(cancellationToken)) : FetchReportingAsync(fetch, cache, sink, cancellationToken);
    }

    /// <summary>Awaits the (possibly shared) fetch and tells the sink whether Redis or the provider answered.</summary>
    private static async ValueTask<Credential> FetchReportingAsync(Task<Credential> fetch, CredentialCache cache, ICredentialSourceSink sink, CancellationToken cancellationToken)
    {
        var credential = await fetch.WaitAsync(cancellationToken);
        if (cache.Current is { } entry && ReferenceEquals(entry.Credential, credential))
        {
            sink.Served(entry.Source, entry.ExpiresAt);
        }
        else
        {
            sink.Served(cache.PassThrough ? CredentialSource.Store : CredentialSource.Issued, credential.ExpiresAt);
        }
        return credential;
    }

    /// <summary>
    /// Drops a credential (or, for a workload-bound one, only <paramref name="workloadId"/>'s copy) from memory and
    /// Redis on every replica: the next request fetches a new one. Returns whether this replica had one cached.
    /// </summary>
    public async Task<bool> RevokeAsync(CredentialBinding binding, string? workloadId = null)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var had = RevokeLocal(binding, workloadId);
        if (shared.IsConfigured)
        {
            IReadOnlyList<string>? keys = workloadId is null ? null : [shared.KeyFor(binding, workloadId)];
            await shared.RevokeAsync(binding, keys, workloadId);
        }
        return had;
    }

    /// <summary>Drops the in-memory copies only (a revocation another replica announced).</summary>
    public bool RevokeLocal(CredentialBinding binding, string? workloadId = null)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (workloadId is not null && !binding.Provider.IsWorkloadBound)
        {
            // One credential shared by every caller: it is not this workload's to drop.
            return false;
        }
        var caches = workloadId is null ? binding.CachesByWorkload : binding.CachesOfWorkload(workloadId);
        var had = false;
        var released = new List<(string?, Credential)>();
        foreach (var (workload, cache) in caches)
        {
            lock (cache.Gate)
            {
                had |= cache.Current is not null;
                if (cache.Current is { } current)
                {
                    released.Add((workload, current.Credential));
                }
                if (cache.Retired is { } retired)
                {
                    released.AddRange(retired.Select(r => (workload, r.Credential)));
                    retired.Clear();
                }
                cache.Current = null;
                cache.Generation++;
                // A fetch already in flight may carry a token issued before the revocation: let it finish, but do
                // not let late callers join it.
                cache.InFlight = null;
            }
        }
        Log.Revoked(logger, binding.Name, workloadId ?? "(all)", had);
        _observer.Revoked(binding, workloadId, had, [.. released.Select(r => r.Item2.LeaseId).OfType<string>().Distinct(StringComparer.Ordinal)]);
        if (released.Count == 0 && binding.IssuesStaticSecrets)
        {
            // A static secret is never cached here (it passes through from its store), so nothing is released; the trail
            // still says that the secret itself stays valid.
            _observer.RevokedAtIssuer(binding, workloadId, CredentialRelease.Revoked, StaticSecret(binding));
        }
        Release(binding, released, CredentialRelease.Revoked);
        return had;
    }

    /// <summary>
    /// Releases the credentials of <paramref name="binding"/> whose lifetime has ended (current or replaced), once;
    /// run by the periodic cache sweep (<c>ConfigManager.Sweeping</c>), so a role-like credential goes within a sweep
    /// interval of its expiry.
    /// </summary>
    public int ReleaseExpired(CredentialBinding binding, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(binding);
        var expired = binding.TakeExpired(now);
        Release(binding, expired, CredentialRelease.Expired);
        return expired.Count;
    }

    private void Release(CredentialBinding binding, List<(string? WorkloadId, Credential Credential)> credentials, CredentialRelease reason)
    {
        // One release per credential: copies of one credential (the same secret) in several caches are one.
        foreach (var (workload, credential) in credentials.DistinctBy(c => (c.Credential.Username, c.Credential.Secret.Reveal())))
        {
            Log.Releasing(logger, binding.Name, workload ?? "(shared)", reason);
            _ = ReleaseAsync(binding, workload, credential, reason);
        }
    }

    /// <summary>
    /// Asks the issuer to revoke the credential (a provider that can, <see cref="IRevokesAtIssuer"/>), then lets the
    /// provider release it (<see cref="ICredentialProvider.ReleaseAsync"/>: drop a database role, revoke a Vault lease).
    /// In the background: the revocation in the proxy already took effect, and an issuer that is down never delays it.
    /// </summary>
    private async Task ReleaseAsync(CredentialBinding binding, string? workload, Credential credential, CredentialRelease reason)
    {
        try
        {
            await Task.Yield();
            await RevokeAtIssuerAsync(binding, workload, credential, reason);
            await binding.Provider.ReleaseAsync(credential, reason, _stopping.Token);
        }
        catch (Exception ex)
        {
            // The provider reports its own failures; this only keeps an unexpected one from going unobserved.
            Log.ReleaseFailed(logger, binding.Name, ex.GetType().Name);
        }
    }

    private async Task RevokeAtIssuerAsync(CredentialBinding binding, string? workload, Credential credential, CredentialRelease reason)
    {
        IssuerRevocation? result = null;
        if (binding.Provider is IRevokesAtIssuer revocable)
        {
            try
            {
                result = await revocable.RevokeAtIssuerAsync(credential, reason, _stopping.Token);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A provider's bug must not lose the record: only the type, as messages of foreign exceptions may hold data.
                result = IssuerRevocation.Failure(binding.ProviderName, $"the provider failed ({ex.GetType().Name})");
            }
        }
        if (result is null && credential.IsStatic && reason == CredentialRelease.Revoked)
        {
            result = StaticSecret(binding);
        }
        if (result is null)
        {
            return;
        }
        switch (result.Outcome)
        {
            case IssuerRevocationOutcome.Revoked:
                Log.RevokedAtIssuer(logger, binding.Name, workload ?? "(shared)", result.Issuer);
                break;
            case IssuerRevocationOutcome.Failed:
                Log.IssuerRevocationFailed(logger, binding.Name, workload ?? "(shared)", result.Issuer, result.Reason ?? "");
                break;
            default:
                Log.NotRevocableAtIssuer(logger, binding.Name, result.Issuer, result.Reason ?? "");
                break;
        }
        _observer.RevokedAtIssuer(binding, workload, reason, result);
    }

    /// <summary>What a static secret's revocation means at its source: nothing; it must be rotated there.</summary>
    private static IssuerRevocation StaticSecret(CredentialBinding binding) => IssuerRevocation.Impossible(binding.ProviderName,
        $"a static secret from the '{binding.ProviderName}' store: the proxy no longer hands out its cached copy, but the secret stays valid wherever it is accepted until it is rotated at its source");

    /// <summary>Two credentials are the same when user name and secret are (a renewal extends one without replacing it).</summary>
    private static bool Same(Credential a, Credential b) =>
        ReferenceEquals(a, b) || (a.Username == b.Username && (ReferenceEquals(a.Secret, b.Secret) || a.Secret.Reveal() == b.Secret.Reveal()));

    /// <summary>The single fetch for this credential: joins the one in flight or starts it.</summary>
    private Task<Credential> Fetch(CredentialBinding binding, CredentialCache cache, CredentialRequest request)
    {
        lock (cache.Gate)
        {
            if (cache.InFlight is { IsCompleted: false } running)
            {
                return running;
            }
            // A caller that missed just before the fetch it would have joined stored its result: take that result
            // instead of starting a second fetch.
            if (_memory && cache.Current is { } stored && cache.InFlight is { IsCompletedSuccessfully: true } && time.GetUtcNow() is var now && now < stored.RefreshAt && now < stored.UsableUntil)
            {
                return Task.FromResult(stored.Credential);
            }
            var task = FetchCoreAsync(binding, cache, request, cache.Generation);
            cache.InFlight = task;
            return task;
        }
    }

    private async Task<Credential> FetchCoreAsync(CredentialBinding binding, CredentialCache cache, CredentialRequest request, int generation)
    {
        await Task.Yield();
        // A token issued on a user's behalf stays in this replica's memory: it is one user's, and the user's own token
        // (which every replica is sent) lets any replica exchange it again.
        // One with a client certificate stays too: its private key (or the certificate its token is bound to) is this process's.
        if (!shared.IsConfigured || !shared.IsAvailable || request.OnBehalfOf is not null || binding.Provider.PresentsClientCertificate)
        {
            return await FetchFromProviderAsync(binding, cache, request, generation, null, null, null);
        }
        // Read first: a revocation anywhere from now on bumps it, and what this fetch gets is then kept out of Redis.
        var revocations = await shared.RevocationGenerationAsync(binding);
        var key = shared.KeyFor(binding, request.WorkloadId);
        var found = await shared.GetAsync(key, binding.Name);
        var fromRedis = found is null ? null : Admit(binding, found.Credential, found.IssuedAt, found.ExpiresAt, CredentialSource.Redis);
        var now = time.GetUtcNow();
        var redisHit = fromRedis is not null && now < fromRedis.RefreshAt && now < fromRedis.UsableUntil;
        _observer.CacheLookup(CacheLayer.Redis, redisHit);
        if (redisHit && fromRedis is not null)
        {
            Store(binding, cache, generation, fromRedis);
            return fromRedis.Credential;
        }
        // Missing or due for refresh: one replica fetches, the others wait for its result. The one holding the lock
        // looks once more: another replica may have written and released between our read and our lock.
        await using var lease = await shared.TryLockAsync(key);
        var other = lease is null
            ? await shared.WaitForOtherFetchAsync(key, binding.Name, fromRedis?.IssuedAt, time)
            : await shared.GetAsync(key, binding.Name) is { } again && (fromRedis is null || again.IssuedAt > fromRedis.IssuedAt) ? again : null;
        if (other is not null && Admit(binding, other.Credential, other.IssuedAt, other.ExpiresAt, CredentialSource.Redis) is { } admitted && time.GetUtcNow() < admitted.UsableUntil)
        {
            Store(binding, cache, generation, admitted);
            return admitted.Credential;
        }
        try
        {
            return await FetchFromProviderAsync(binding, cache, request, generation, key, revocations, fromRedis);
        }
        catch (Exception ex) when (fromRedis is not null && time.GetUtcNow() < fromRedis.UsableUntil && IsFetchFailure(ex))
        {
            // The shared copy is due for refresh but still valid: serve it.
            Log.RefreshFailed(logger, binding.Name, Reason(ex));
            Store(binding, cache, generation, fromRedis with { RefreshAt = Earlier(time.GetUtcNow() + RetryAfterFailure, fromRedis.UsableUntil) });
            return fromRedis.Credential;
        }
    }

    private async Task<Credential> FetchFromProviderAsync(CredentialBinding binding, CredentialCache cache, CredentialRequest request, int generation, string? sharedKey, long? revocations,
        CachedCredential? fromRedis)
    {
        var fetchedAt = time.GetUtcNow();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var refresh = cache.Current is not null;
        // A provider that renews (extends a lease) gets the credential it would replace, while that is still valid.
        if ((cache.Current ?? fromRedis) is { } held && fetchedAt < held.ExpiresAt)
        {
            request = request with { Renewing = held.Credential };
        }
        Credential credential;
        try
        {
            // Not the caller's token: one caller giving up must not fail the fetch the others wait for.
            credential = await binding.Provider.GetCredentialAsync(request, CancellationToken.None);
        }
        catch (Exception ex) when (IsFetchFailure(ex))
        {
            _observer.FetchFailed(binding, request.WorkloadId, ex is not CredentialUnavailableException { IsOutage: false }, System.Diagnostics.Stopwatch.GetElapsedTime(started));
            throw;
        }
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        if (credential.ExpiresAt is not { } expiresAt)
        {
            cache.PassThrough = true;
            _observer.Issued(binding, request.WorkloadId, null, refresh: false, elapsed);
            if (credential.IsStatic)
            {
                // Once per credential (later calls pass through): a long-lived secret is migration debt.
                Log.StaticInUse(logger, binding.Name, binding.ProviderName);
            }
            return credential;
        }
        var entry = Admit(binding, credential, fetchedAt, expiresAt, CredentialSource.Issued);
        Store(binding, cache, generation, entry);
        Log.Issued(logger, binding.Name, binding.ProviderName, entry.ExpiresAt);
        _observer.Issued(binding, request.WorkloadId, entry.ExpiresAt, refresh, elapsed);
        if (sharedKey is not null && revocations is { } expected && !await shared.SetAsync(sharedKey, binding, new SharedEntry(entry.Credential, entry.IssuedAt, entry.ExpiresAt), time.GetUtcNow(), expected))
        {
            Log.NotSharedAfterRevocation(logger, binding.Name);
        }
        return entry.Credential;
    }

    /// <summary>Caps the lifetime at maxTtl and computes the margin and refresh point (with jitter, earlier only).</summary>
    private static CachedCredential Admit(CredentialBinding binding, Credential credential, DateTimeOffset issuedAt, DateTimeOffset expiresAt, CredentialSource source)
    {
        if (binding.MaxTtl is { } maxTtl && expiresAt > issuedAt + maxTtl)
        {
            expiresAt = issuedAt + maxTtl;
        }
        if (credential.ExpiresAt != expiresAt)
        {
            credential = credential.WithExpiresAt(expiresAt);
        }
        var lifetime = expiresAt - issuedAt;
        if (lifetime < TimeSpan.Zero)
        {
            lifetime = TimeSpan.Zero;
        }
        // Hand a credential out only until shortly before it expires: issuers round lifetimes to whole seconds,
        // and the request still has to reach the upstream.
        var margin = lifetime * 0.1;
        margin = margin < MinMargin ? MinMargin : margin > MaxMargin ? MaxMargin : margin;
        // Jitter (up to 5% of the lifetime) spreads the refreshes of many replicas.
        var jitter = lifetime * (Random.Shared.NextDouble() * 0.05);
        var refreshAt = issuedAt + lifetime * binding.RefreshFraction - jitter;
        return new CachedCredential(credential, issuedAt, expiresAt, expiresAt - margin, refreshAt) { Source = source };
    }

    /// <summary>
    /// Makes <paramref name="entry"/> the cache's credential unless a revocation came first. The one it replaces (when it
    /// is another credential, not a renewal of it) is kept to be released when it expires. A credential this replica
    /// issued after a revocation began is released at once: nobody revoked it, but nobody will use it either.
    /// </summary>
    private void Store(CredentialBinding binding, CredentialCache cache, int generation, CachedCredential entry)
    {
        lock (cache.Gate)
        {
            if (cache.Generation == generation)
            {
                if (cache.Current is { } previous && !Same(previous.Credential, entry.Credential))
                {
                    (cache.Retired ??= []).Add(previous);
                }
                cache.Current = entry;
                return;
            }
        }
        if (entry.Source == CredentialSource.Issued)
        {
            Release(binding, [(null, entry.Credential)], CredentialRelease.Revoked);
        }
    }

    /// <summary>Cancels releases still running (the proxy stops).</summary>
    public void Dispose() => _stopping.Cancel();

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
        catch (Exception ex) when (IsFetchFailure(ex))
        {
            // Keep serving the still-valid credential; try again a little later, never after expiry.
            lock (cache.Gate)
            {
                if (cache.Current is { } entry && entry.RefreshAt <= time.GetUtcNow())
                {
                    cache.Current = entry with { RefreshAt = Earlier(time.GetUtcNow() + RetryAfterFailure, entry.UsableUntil) };
                }
            }
            Log.RefreshFailed(logger, binding.Name, Reason(ex));
        }
    }

    private static DateTimeOffset Earlier(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static bool IsFetchFailure(Exception ex) => ex is CredentialUnavailableException or HttpRequestException or TimeoutException or OperationCanceledException;

    private static string Reason(Exception ex) => ex is CredentialUnavailableException unavailable ? unavailable.Reason : ex.GetType().Name;

    private static partial class Log
    {
        [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Credential {Credential} was revoked while it was being fetched; the fetched value is not shared through Redis")]
        public static partial void NotSharedAfterRevocation(ILogger logger, string credential);

        [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Credential {Credential} issued by {Provider}, valid until {ExpiresAt:O}")]
        public static partial void Issued(ILogger logger, string credential, string provider, DateTimeOffset expiresAt);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Credential {Credential} refreshed ahead of expiry")]
        public static partial void Refreshed(ILogger logger, string credential);

        [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Credential {Credential} revoked for {Workload} (a cached one was dropped: {WasCached})")]
        public static partial void Revoked(ILogger logger, string credential, string workload, bool wasCached);

        [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Credential {Credential} is a static secret from the '{Provider}' store: a long-lived secret is migration debt; prefer a minted, short-lived credential (oauth2-client-credentials, oauth2-token-exchange, jwt)")]
        public static partial void StaticInUse(ILogger logger, string credential, string provider);

        [LoggerMessage(EventId = 3011, Level = LogLevel.Debug, Message = "Credential {Credential}: releasing the copy of {Workload} ({Reason})")]
        public static partial void Releasing(ILogger logger, string credential, string workload, CredentialRelease reason);

        [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Credential {Credential}: its provider failed to release a credential ({ExceptionType})")]
        public static partial void ReleaseFailed(ILogger logger, string credential, string exceptionType);

        [LoggerMessage(EventId = 3013, Level = LogLevel.Information, Message = "Credential {Credential}: the copy of {Workload} was revoked at its issuer ({Issuer})")]
        public static partial void RevokedAtIssuer(ILogger logger, string credential, string workload, string issuer);

        [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "Credential {Credential}: revoking the copy of {Workload} at its issuer ({Issuer}) failed: {Reason}; it stays valid there until it expires")]
        public static partial void IssuerRevocationFailed(ILogger logger, string credential, string workload, string issuer, string reason);

        [LoggerMessage(EventId = 3015, Level = LogLevel.Information, Message = "Credential {Credential} cannot be revoked at its issuer ({Issuer}): {Reason}")]
        public static partial void NotRevocableAtIssuer(ILogger logger, string credential, string issuer, string reason);

        [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Refreshing credential {Credential} failed ({Reason}); serving the cached one while it is valid")]
        public static partial void RefreshFailed(ILogger logger, string credential, string reason);
    }
}
