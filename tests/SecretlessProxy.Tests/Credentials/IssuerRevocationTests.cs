using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Tests.Credentials;

/// <summary>The broker asks the issuer on every path a credential leaves it, after the revocation in the proxy took effect.</summary>
public sealed class IssuerRevocationTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero));
    private static readonly CredentialRequest Request = new("api", "route", "spiffe://example.org/a");

    private sealed class RevocableProvider(FakeTimeProvider time) : ICredentialProvider, IRevokesAtIssuer
    {
        private int _calls;

        public ConcurrentQueue<(string Token, CredentialRelease Reason)> Revoked { get; } = new();

        public ConcurrentQueue<string> Released { get; } = new();

        /// <summary>Held until the test lets the issuer answer.</summary>
        public TaskCompletionSource? Issuer { get; set; }

        public bool IssuerDown { get; set; }

        public bool IsWorkloadBound { get; init; }

        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Credential("api", new SecretValue("tok-" + Interlocked.Increment(ref _calls))) { ExpiresAt = time.GetUtcNow() + TimeSpan.FromHours(1) });

        public async ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken)
        {
            if (Issuer is not null)
            {
                await Issuer.Task;
            }
            Revoked.Enqueue((credential.Secret.Reveal(), reason));
            return IssuerDown ? IssuerRevocation.Failure("http://issuer/revoke", "revocation endpoint answered HTTP 503") : IssuerRevocation.Done("http://issuer/revoke");
        }

        public ValueTask ReleaseAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken)
        {
            Released.Enqueue(credential.Secret.Reveal());
            return ValueTask.CompletedTask;
        }

        public void Dispose()
        {
        }
    }

    private sealed class Observer : ICredentialObserver
    {
        public ConcurrentQueue<(string? Workload, CredentialRelease Release, IssuerRevocation Result)> AtIssuer { get; } = new();

        public void CacheLookup(CacheLayer layer, bool hit)
        {
        }

        public void Issued(CredentialBinding binding, string? workloadId, DateTimeOffset? expiresAt, bool refresh, TimeSpan elapsed)
        {
        }

        public void FetchFailed(CredentialBinding binding, string? workloadId, bool outage, TimeSpan elapsed)
        {
        }

        public void Revoked(CredentialBinding binding, string? workloadId, bool wasCached)
        {
        }

        public void RevokedAtIssuer(CredentialBinding binding, string? workloadId, CredentialRelease release, IssuerRevocation result) => AtIssuer.Enqueue((workloadId, release, result));
    }

    private CredentialBroker Broker(Observer observer) =>
        new(_time, new SecretlessProxy.Credentials.Redis.SharedCredentialStore(new SecretlessProxy.Redis.RedisConnection(NullLogger<SecretlessProxy.Redis.RedisConnection>.Instance),
            NullLogger<SecretlessProxy.Credentials.Redis.SharedCredentialStore>.Instance), NullLogger<CredentialBroker>.Instance, observer);

    [Fact]
    public async Task A_revocation_takes_effect_at_once_and_the_issuer_is_asked_in_the_background()
    {
        var observer = new Observer();
        using var broker = Broker(observer);
        var provider = new RevocableProvider(_time) { Issuer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var binding = new CredentialBinding("api", "oauth2-client-credentials", provider, "header", null!);
        Assert.Equal("tok-1", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());

        // The issuer has not answered yet, and the next caller already gets a new token.
        Assert.True(await broker.RevokeAsync(binding));
        Assert.Equal("tok-2", (await broker.GetAsync(binding, Request, default)).Secret.Reveal());
        Assert.Empty(observer.AtIssuer);

        provider.Issuer.SetResult();
        await Eventually.Until(() => observer.AtIssuer.Count == 1, "the issuer's answer is reported");
        Assert.Equal(("tok-1", CredentialRelease.Revoked), provider.Revoked.Single());
        var (workload, release, result) = observer.AtIssuer.Single();
        Assert.Null(workload);
        Assert.Equal(CredentialRelease.Revoked, release);
        Assert.Equal(IssuerRevocationOutcome.Revoked, result.Outcome);
        // The provider's own release still runs after the issuer was asked.
        await Eventually.Until(() => provider.Released.Contains("tok-1"), "the provider releases it too");
    }

    [Fact]
    public async Task A_token_expired_in_the_cache_is_revoked_at_the_issuer_and_a_failure_is_reported_not_thrown()
    {
        var observer = new Observer();
        using var broker = Broker(observer);
        var provider = new RevocableProvider(_time) { IssuerDown = true, IsWorkloadBound = true };
        var binding = new CredentialBinding("api", "oauth2-token-exchange", provider, "header", null!) { MaxTtl = TimeSpan.FromMinutes(5) };
        await broker.GetAsync(binding, Request, default);
        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(1, broker.ReleaseExpired(binding, _time.GetUtcNow()));
        await Eventually.Until(() => observer.AtIssuer.Count == 1, "the failure is reported");
        var (workload, release, result) = observer.AtIssuer.Single();
        Assert.Equal("spiffe://example.org/a", workload);
        Assert.Equal(CredentialRelease.Expired, release);
        Assert.Equal(IssuerRevocationOutcome.Failed, result.Outcome);
        Assert.Contains("HTTP 503", result.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("tok-1", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_static_secret_says_it_cannot_be_revoked_at_its_source()
    {
        var observer = new Observer();
        using var broker = Broker(observer);
        var binding = new CredentialBinding("github", "file", new StaticProvider(), "header", null!) { IssuesStaticSecrets = true };
        await broker.GetAsync(binding, Request, default);
        await broker.RevokeAsync(binding);
        var (_, _, result) = Assert.Single(observer.AtIssuer);
        Assert.Equal(IssuerRevocationOutcome.NotRevocable, result.Outcome);
        Assert.Contains("static secret", result.Reason, StringComparison.Ordinal);
    }

    private sealed class StaticProvider : ICredentialProvider
    {
        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Credential("github", new SecretValue("static-secret")) { IsStatic = true });

        public void Dispose()
        {
        }
    }
}
