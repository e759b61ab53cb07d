using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.Credentials;
using SecretlessProxy.Credentials.Redis;
using SecretlessProxy.Redis;
using SecretlessProxy.Injection;

namespace SecretlessProxy.Benchmarks;

/// <summary>
/// The credential path of a request whose token is cached in memory (L1): the broker's lookup (with the decision
/// record told where the credential came from), then the injector's prepared header. No provider call, no Redis.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 8)]
public class CacheBenchmarks
{
    private CredentialBroker _broker = null!;
    private CredentialBinding _shared = null!;
    private CredentialBinding _perWorkload = null!;
    private CredentialRequest _request = null!;
    private DecisionRecord _record = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        _broker = new CredentialBroker(TimeProvider.System, new SharedCredentialStore(new RedisConnection(NullLogger<RedisConnection>.Instance), NullLogger<SharedCredentialStore>.Instance), NullLogger<CredentialBroker>.Instance);
        var section = new ConfigurationBuilder().AddInMemoryCollection().Build().GetSection("inject");
        ICredentialInjector Injector() => new HeaderInjectorFactory().Build(new PluginConfig("api", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (_, _, _) => { }));
        _shared = new CredentialBinding("api", "bench", new MintingProvider(workloadBound: false), "header", Injector()) { Fingerprint = "bench-shared" };
        _perWorkload = new CredentialBinding("jwt", "bench", new MintingProvider(workloadBound: true), "header", Injector()) { Fingerprint = "bench-workload" };
        _request = new CredentialRequest("api", "github", "spiffe://example.org/ns/payments/sa/api");
        _record = new DecisionRecord();
        // Warm L1: the first call fetches, every later one is a hit.
        await _broker.GetAsync(_shared, _request, default, _record);
        await _broker.GetAsync(_perWorkload, _request, default, _record);
    }

    [Benchmark]
    public bool L1HitShared()
    {
        var task = _broker.GetAsync(_shared, _request, default, _record);
        return task.IsCompletedSuccessfully && _shared.Injector.Prepare(task.Result) is not null;
    }

    [Benchmark]
    public bool L1HitPerWorkload()
    {
        var task = _broker.GetAsync(_perWorkload, _request, default, _record);
        return task.IsCompletedSuccessfully && _perWorkload.Injector.Prepare(task.Result) is not null;
    }

    private sealed class MintingProvider(bool workloadBound) : ICredentialProvider
    {
        public bool IsWorkloadBound => workloadBound;

        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(new Credential(request.CredentialName, new SecretValue("bench-token-" + Guid.NewGuid().ToString("N")))
            {
                ExpiresAt = DateTimeOffset.UtcNow.AddHours(1),
            });

        public void Dispose()
        {
        }
    }
}
