using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.Aws;

namespace SecretlessProxy.Benchmarks;

/// <summary>
/// SigV4 per request, in ns/op and allocated bytes/op: the bare signature (canonical request, string to sign,
/// key derivation, HMAC) and the whole sigv4 injection (strip, canonical re-encoding of path and query, sign,
/// set headers) on an S3 GET with session credentials.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 8)]
public class SigV4Benchmarks
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private SigV4Request _request = null!;
    private AwsSigningCredentials _keys = null!;
    private SigV4Options _options = null!;
    private SigV4SigningKeyCache _keyCache = new();
    private IPreparedInjection _prepared = null!;
    private InMemorySignableRequest _outgoing = null!;

    [GlobalSetup]
    public void Setup()
    {
        _keys = new AwsSigningCredentials("ASIAEXAMPLEKEY000001", new SecretValue("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), new SecretValue(new string('t', 600)));
        _options = new SigV4Options("us-east-1", "s3", NormalizePath: false, SignPayloadHashHeader: true, EncodePath: false, EncodeQuery: false);
        _request = new SigV4Request("GET", "/reports/2026/summary.csv", [new("list-type", "2"), new("prefix", "a%2Fb")],
            [new("host", "bucket.s3.us-east-1.amazonaws.com"), new("x-amz-meta-owner", "payments")], SigV4Request.UnsignedPayload);

        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["inject:service"] = "s3",
            ["inject:region"] = "us-east-1",
        }).Build().GetSection("inject");
        var injector = new SigV4InjectorFactory().Build(new PluginConfig("aws", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (_, _, _) => { }));
        var credential = new Credential("aws", _keys.SecretAccessKey) { Username = _keys.AccessKeyId, SessionToken = _keys.SessionToken };
        _prepared = injector.Prepare(credential);
        _outgoing = new InMemorySignableRequest();
    }

    /// <summary>Every step, the signing key derived afresh (four extra HMACs).</summary>
    [Benchmark]
    public string SigV4Sign() => SigV4Signer.Sign(_request, _keys, _options, Now).Signature;

    /// <summary>As the injector signs: the day's signing key cached per credential.</summary>
    [Benchmark]
    public string SigV4SignCachedKey() => SigV4Signer.Sign(_request, _keys, _options, Now, _keyCache).Signature;

    [Benchmark]
    public int SigV4InjectS3Get()
    {
        _outgoing.Reset();
        _prepared.Apply(_outgoing);
        return _outgoing.HeaderCount;
    }

    private sealed class InMemorySignableRequest : ISignableRequest
    {
        private readonly List<KeyValuePair<string, string>> _headers = [];

        public string Method => "GET";

        public Uri Url { get; private set; } = null!;

        public string Host => "bucket.s3.us-east-1.amazonaws.com";

        public IEnumerable<KeyValuePair<string, string>> Headers => _headers;

        public string? PayloadSha256 => null;

        public int HeaderCount => _headers.Count;

        public void Reset()
        {
            Url = new Uri("https://bucket.s3.us-east-1.amazonaws.com/reports/2026/summary.csv?list-type=2&prefix=a%2Fb");
            _headers.Clear();
            _headers.Add(new("x-amz-meta-owner", "payments"));
            _headers.Add(new("Accept", "*/*"));
        }

        public void RemoveHeader(string name) => _headers.RemoveAll(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase));

        public void SetHeader(string name, string value)
        {
            RemoveHeader(name);
            _headers.Add(new(name, value));
        }

        public void SetQueryParameter(string name, string value) => throw new NotSupportedException();

        public void SetPathAndQuery(string pathAndQuery) => Url = new Uri("https://bucket.s3.us-east-1.amazonaws.com" + pathAndQuery);
    }
}
