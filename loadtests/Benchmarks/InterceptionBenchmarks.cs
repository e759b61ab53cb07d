using BenchmarkDotNet.Attributes;
using SecretlessProxy.DevCa;
using SecretlessProxy.Listeners;

namespace SecretlessProxy.Benchmarks;

/// <summary>
/// The forward proxy's per-host cost: minting an intercepting leaf (an ECDSA P-256 key, a certificate signed by the
/// interception CA, the PKCS#12 round trip, the certificate context) against serving one from the cache, which is
/// what every CONNECT after the first to a host costs.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 8)]
public class InterceptionBenchmarks
{
    private InterceptionCa _ca = null!;
    private string _dir = "";

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("secretless-bench-").FullName;
        using (var ca = DevCertificateAuthority.Create("bench interception CA", TimeSpan.FromDays(2)))
        {
            ca.Save(_dir);
        }
        _ca = InterceptionCa.Load(Path.Combine(_dir, DevCertificateAuthority.CertificateFile), Path.Combine(_dir, DevCertificateAuthority.KeyFile), TimeProvider.System);
        _ca.LeafFor("api.example.test");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark]
    public object MintLeaf() => _ca.Mint("api.example.test").Context;

    [Benchmark(Baseline = true)]
    public object CachedLeaf() => _ca.LeafFor("api.example.test");
}
