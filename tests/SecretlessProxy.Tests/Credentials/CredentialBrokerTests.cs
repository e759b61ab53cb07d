using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Tests.Credentials;

public sealed class CredentialBrokerTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 10, 0, 0, TimeSpan.Zero));
    private static readonly CredentialRequest Request = new("api", "route", "spiffe://example.org/a");

    private sealed class FakeProvider(FakeTimeProvider time) : ICredentialProvider
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public TimeSpan? Lifetime { get; set; } = TimeSpan.FromHours(1);

        public bool Down { get; set; }

        public TaskCompletionSource? Gate { get; set; }

        /// <summary>Completed when a call reaches the provider (a fetch is then in flight, held by <see cref="Gate"/>).</summary>
        public TaskCompletionSource? Entered { get; set; }

        public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            var call = Interlocked.Increment(ref _calls);
            Entered?.TrySetResult();
            if (Gate is not null)
            {
                await Gate.Task;
            }
            if (Down)
            {
                throw new CredentialUnavailableException("api", "token endpoint unreachable");
            }
            return new Credential("api", new SecretValue("tok-" + call)) { ExpiresAt = Lifetime is { } lifetime ? time.GetUtcNow() + lifetime : null };
        }

        public void Dispose()
        {
        }
    }

    private (CredentialBroker Broker, CredentialBinding Binding, FakeProvider Provider) Create(TimeSpan? maxTtl = null)
    {
        var provider = new FakeProvider(_time);
        var binding = new CredentialBinding("api", "fake", provider, "header", null!) { MaxTtl = maxTtl };
        return (new CredentialBroker(_time, new SecretlessProxy.Credentials.Redis.SharedCredentialStore(new SecretlessProxy.Redis.RedisConnection(NullLogger<SecretlessProxy.Redis.RedisConnection>.Instance), NullLogger<SecretlessProxy.Credentials.Redis.SharedCredentialStore>.Instance), NullLogger<CredentialBroker>.Instance), binding, provider);
    }

    [Fact]
    public async Task Two_hundred_concurrent_misses_fetch_once()
    {
        var (broker, binding, provider) = Create();
        provider.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        provider.Entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, 200).Select(_ => broker.GetAsync(binding, Request, default).AsTask()).ToList();
        // The fetch is in flight and held: every caller is still waiting for it.
        await provider.Entered.Task.WaitAsync(Eventually.DefaultTimeout);
        Assert.All(calls, c => Assert.False(c.IsCompleted));
        provider.Gate.SetResult();
        var credentials = await Task.WhenAll(calls);
        Assert.Equal(1, provider.Calls);
        Assert.All(credentials, c => Assert.Same(credentials[0], c));
    }

    [Fact]
    public async Task Serves_the_cached_credential_then_refreshes_ahead_of_expiry_in_the_background()
    {
        var (broker, binding, provider) = Create();
        Assert.Equal("tok-1", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
        _time.Advance(TimeSpan.FromMinutes(30));
        Assert.Equal("tok-1", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
        Assert.Equal(1, provider.Calls);

        _time.Advance(TimeSpan.FromMinutes(21)); // 85% of the hour: past the refresh point, before expiry
        Assert.Equal("tok-1", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
        var served = "";
        await Eventually.Until(async () => (served = (await broker.GetAsync(binding, Request, default)).Secret.Reveal()) == "tok-2", "the refreshed credential is served");
        Assert.Equal("tok-2", served);
        Assert.Equal(2, provider.Calls);
    }

    [Fact]
    public async Task Never_serves_an_expired_credential()
    {
        var (broker, binding, provider) = Create();
        await broker.GetAsync(binding, Request, default);
        provider.Down = true;
        _time.Advance(TimeSpan.FromMinutes(61));
        var ex = await Assert.ThrowsAsync<CredentialUnavailableException>(async () => await broker.GetAsync(binding, Request, default));
        Assert.Equal("api", ex.CredentialName);
        provider.Down = false;
        var fresh = await broker.GetAsync(binding, Request, default);
        Assert.True(fresh.ExpiresAt > _time.GetUtcNow());
    }

    [Fact]
    public async Task Provider_down_keeps_serving_a_still_valid_credential()
    {
        var (broker, binding, provider) = Create();
        await broker.GetAsync(binding, Request, default);
        provider.Down = true;
        _time.Advance(TimeSpan.FromMinutes(54)); // refresh due, refresh fails
        Assert.Equal("tok-1", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
        // The failed background refresh backs off: its next try is set a few seconds ahead.
        await Eventually.Until(() => binding.Cache.Current!.RefreshAt > _time.GetUtcNow(), "the failed refresh sets its next try ahead");
        Assert.Equal(2, provider.Calls);
        Assert.True(binding.Cache.Current!.RefreshAt > _time.GetUtcNow());
        var callsWhileBackingOff = provider.Calls;
        Assert.Equal("tok-1", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
        Assert.Equal(callsWhileBackingOff, provider.Calls);
    }

    [Fact]
    public async Task Max_ttl_cuts_a_longer_lifetime()
    {
        var (broker, binding, provider) = Create(maxTtl: TimeSpan.FromMinutes(5));
        var first = await broker.GetAsync(binding, Request, default);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(5), first.ExpiresAt);
        _time.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        var second = await broker.GetAsync(binding, Request, default);
        Assert.Equal("tok-2", second.Secret.Reveal());
        Assert.Equal(2, provider.Calls);
    }

    [Fact]
    public async Task Credentials_without_expiry_pass_straight_through()
    {
        var (broker, binding, provider) = Create();
        provider.Lifetime = null;
        await broker.GetAsync(binding, Request, default);
        await broker.GetAsync(binding, Request, default);
        Assert.Equal(2, provider.Calls);
    }

    [Fact]
    public async Task Revocation_drops_the_cache_and_a_fetch_in_flight_does_not_restore_it()
    {
        var (broker, binding, provider) = Create();
        await broker.GetAsync(binding, Request, default);
        Assert.True(broker.RevokeLocal(binding));
        Assert.Equal("tok-2", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());

        provider.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        broker.RevokeLocal(binding);
        provider.Entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = broker.GetAsync(binding, Request, default).AsTask(); // tok-3, issued "before" the next revocation
        await provider.Entered.Task.WaitAsync(Eventually.DefaultTimeout);
        broker.RevokeLocal(binding);
        provider.Gate.SetResult();
        Assert.Equal("tok-3", (await inFlight).Secret.Reveal());
        provider.Gate = null;
        Assert.Equal("tok-4", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
    }

    [Fact]
    public async Task A_caller_giving_up_does_not_fail_the_shared_fetch()
    {
        var (broker, binding, provider) = Create();
        provider.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var impatient = new CancellationTokenSource();
        var cancelled = broker.GetAsync(binding, Request, impatient.Token).AsTask();
        var patient = broker.GetAsync(binding, Request, default).AsTask();
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        provider.Gate.SetResult();
        Assert.Equal("tok-1", (await patient).Secret.Reveal());
        Assert.Equal(1, provider.Calls);
    }

    private sealed class BoundProvider(FakeTimeProvider time) : ICredentialProvider
    {
        public bool IsWorkloadBound => true;

        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Credential("api", new SecretValue("for-" + request.WorkloadId)) { ExpiresAt = time.GetUtcNow() + TimeSpan.FromMinutes(5) });

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task Workload_caches_are_forgotten_once_their_credential_expired_unused()
    {
        var (broker, _, _) = Create();
        var binding = new CredentialBinding("api", "fake", new BoundProvider(_time), "header", null!);
        for (var i = 0; i < 1000; i++)
        {
            await broker.GetAsync(binding, Request with { WorkloadId = $"spiffe://example.org/w{i}" }, CancellationToken.None);
        }
        Assert.Equal(1000, binding.WorkloadCacheCount);
        Assert.Equal(0, binding.SweepIdle(_time.GetUtcNow()));

        _time.Advance(TimeSpan.FromMinutes(4));
        // Workload 7 stays active: its credential is refreshed and its cache kept.
        await broker.GetAsync(binding, Request with { WorkloadId = "spiffe://example.org/w7" }, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(2));
        // Its own credential, whether from memory or from the refresh started above (a call joins a fetch in flight).
        Assert.Equal("for-spiffe://example.org/w7", (await broker.GetAsync(binding, Request with { WorkloadId = "spiffe://example.org/w7" }, CancellationToken.None)).Secret.Reveal());
        Assert.Equal(999, binding.SweepIdle(_time.GetUtcNow()));
        Assert.Equal(1, binding.WorkloadCacheCount);
        var again = await broker.GetAsync(binding, Request with { WorkloadId = "spiffe://example.org/w1" }, CancellationToken.None);
        Assert.Equal("for-spiffe://example.org/w1", again.Secret.Reveal());
    }

    /// <summary>Issues role-N credentials (an upstream object per credential, like a database role), renews when asked, and records releases.</summary>
    private sealed class LeasingProvider(FakeTimeProvider time) : ICredentialProvider
    {
        private int _calls;

        public bool Renew { get; set; }

        public TaskCompletionSource? Gate { get; set; }

        public System.Collections.Concurrent.ConcurrentQueue<(string Username, CredentialRelease Reason)> Released { get; } = new();

        public System.Collections.Concurrent.ConcurrentQueue<string?> RenewingSeen { get; } = new();

        public int Calls => Volatile.Read(ref _calls);

        public bool IsWorkloadBound => true;

        public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            var call = Interlocked.Increment(ref _calls);
            RenewingSeen.Enqueue(request.Renewing?.Username);
            if (Gate is not null)
            {
                await Gate.Task;
            }
            if (Renew && request.Renewing is { } current)
            {
                return current.WithExpiresAt(time.GetUtcNow() + TimeSpan.FromHours(1));
            }
            return new Credential("api", new SecretValue("pw-" + call)) { Username = "role-" + call, ExpiresAt = time.GetUtcNow() + TimeSpan.FromHours(1) };
        }

        public ValueTask ReleaseAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken)
        {
            Released.Enqueue((credential.Username!, reason));
            return ValueTask.CompletedTask;
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task A_replaced_credential_is_released_when_it_expires_a_renewed_one_is_not_and_revocation_releases_at_once()
    {
        var (broker, _, _) = Create();
        var provider = new LeasingProvider(_time);
        var binding = new CredentialBinding("api", "fake", provider, "header", null!);
        Assert.Equal("role-1", (await broker.GetAsync(binding, Request, default)).Username);
        Assert.Equal([null], provider.RenewingSeen);

        // Past the refresh point: a new credential replaces role-1, which stays valid for the rest of its hour.
        _time.Advance(TimeSpan.FromMinutes(50));
        await broker.GetAsync(binding, Request, default);
        await Eventually.Until(async () => (await broker.GetAsync(binding, Request, default)).Username == "role-2", "the refresh replaced role-1");
        Assert.Equal("role-1", provider.RenewingSeen.Last());
        Assert.Equal(0, broker.ReleaseExpired(binding, _time.GetUtcNow()));
        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(1, broker.ReleaseExpired(binding, _time.GetUtcNow()));
        await Eventually.Until(() => provider.Released.Count == 1, "role-1 is released");
        Assert.Equal(("role-1", CredentialRelease.Expired), provider.Released.Single());
        Assert.Equal(0, broker.ReleaseExpired(binding, _time.GetUtcNow()));

        // A renewal extends role-2 (same user and secret): nothing is released when its first lifetime ends.
        provider.Renew = true;
        _time.Advance(TimeSpan.FromMinutes(40));
        var calls = provider.Calls;
        await broker.GetAsync(binding, Request, default);
        await Eventually.Until(() => provider.Calls > calls, "the refresh ran");
        await Eventually.Until(async () => (await broker.GetAsync(binding, Request, default)).ExpiresAt > _time.GetUtcNow() + TimeSpan.FromMinutes(30), "role-2 is renewed");
        _time.Advance(TimeSpan.FromMinutes(14));
        Assert.Equal(0, broker.ReleaseExpired(binding, _time.GetUtcNow()));
        Assert.Equal("role-2", (await broker.GetAsync(binding, Request, default)).Username);

        Assert.True(broker.RevokeLocal(binding, Request.WorkloadId));
        await Eventually.Until(() => provider.Released.Count == 2, "role-2 is released");
        Assert.Equal(("role-2", CredentialRelease.Revoked), provider.Released.Last());
    }

    [Fact]
    public async Task A_credential_issued_while_it_was_being_revoked_is_released()
    {
        var (broker, _, _) = Create();
        var provider = new LeasingProvider(_time) { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var binding = new CredentialBinding("api", "fake", provider, "header", null!);
        var fetch = broker.GetAsync(binding, Request, default).AsTask();
        await Eventually.Until(() => provider.Calls == 1, "the fetch is in flight");
        Assert.False(broker.RevokeLocal(binding, Request.WorkloadId));
        provider.Gate.SetResult();
        Assert.Equal("role-1", (await fetch).Username);
        await Eventually.Until(() => provider.Released.Count == 1, "role-1 is released");
        Assert.Equal(("role-1", CredentialRelease.Revoked), provider.Released.Single());
    }
}
