using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Tests.Credentials;

/// <summary>The access tokens and signing credentials the store providers hold until shortly before they expire.</summary>
public sealed class HeldUntilExpiryTests
{
    [Fact]
    public async Task A_value_is_held_until_the_margin_before_it_expires_fetched_once_for_concurrent_callers_and_dropped_on_demand()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero));
        using var held = new HeldUntilExpiry<string>(TimeSpan.FromMinutes(2), time);
        var fetches = 0;
        var release = new TaskCompletionSource();
        async Task<(string, DateTimeOffset)> FetchAsync(CancellationToken cancellationToken)
        {
            var n = Interlocked.Increment(ref fetches);
            await release.Task.WaitAsync(cancellationToken);
            return ("token-" + n, time.GetUtcNow().AddMinutes(10));
        }

        var first = held.GetAsync(FetchAsync, CancellationToken.None).AsTask();
        var second = held.GetAsync(FetchAsync, CancellationToken.None).AsTask();
        release.SetResult();
        Assert.Equal(["token-1", "token-1"], await Task.WhenAll(first, second));
        Assert.Equal(1, fetches);

        time.Advance(TimeSpan.FromMinutes(7));
        Assert.Equal("token-1", await held.GetAsync(FetchAsync, CancellationToken.None));
        time.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        Assert.Equal("token-2", await held.GetAsync(FetchAsync, CancellationToken.None));

        held.Drop();
        Assert.Equal("token-3", await held.GetAsync(FetchAsync, CancellationToken.None));

        // No expiry: nothing is held.
        held.Drop();
        Assert.Equal("static", await held.GetAsync(_ => Task.FromResult(("static", DateTimeOffset.MinValue)), CancellationToken.None));
        Assert.Equal("token-4", await held.GetAsync(FetchAsync, CancellationToken.None));
    }
}
