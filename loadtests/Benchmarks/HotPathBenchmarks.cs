using System.Collections.Frozen;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.DevCa;
using SecretlessProxy.Identity;
using SecretlessProxy.Injection;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Benchmarks;

/// <summary>Per-request and per-connection work, in ns/op and allocated bytes/op.</summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 8)]
public class HotPathBenchmarks
{
    private const string Id = "spiffe://example.org/ns/payments/sa/api";
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private SpiffeId _id = null!;
    private X509Certificate2 _svid = null!;
    private TrustBundleSet _bundles = null!;
    private ICredentialInjector _injector = null!;
    private Credential _credential = null!;
    private NullRequest _request = null!;
    private DecisionRecord _record = null!;
    private MemoryStream _buffer = null!;
    private Utf8JsonWriter _json = null!;

    [GlobalSetup]
    public void Setup()
    {
        _id = SpiffeId.Parse(Id);
        var ca = DevCertificateAuthority.Create("bench CA", TimeSpan.FromDays(1));
        _svid = ca.IssueSvid(Id, TimeSpan.FromHours(1));
        _bundles = new TrustBundleSet(new Dictionary<string, X509Certificate2Collection> { ["example.org"] = [ca.Certificate] });
        var section = new ConfigurationBuilder().AddInMemoryCollection().Build().GetSection("inject");
        _injector = new HeaderInjectorFactory().Build(new PluginConfig("github", section, "/", TimeProvider.System, NullLoggerFactory.Instance, (_, _, _) => { }));
        _credential = new Credential("github", new SecretValue("gho_0123456789abcdefghijklmnopqrstuvwxyz"));
        _request = new NullRequest();
        _record = new DecisionRecord
        {
            Time = Now, RequestId = "0HNQ902UJIVGO:00000001", Listener = "mtls", Caller = new WorkloadIdentity(SpiffeId.Parse(Id), Now.AddHours(1)), Route = "github",
            Method = "GET", PathTemplate = "/github/{**rest}", Rule = "payments-reads-github", Outcome = "allow", Reason = "allowed",
            Credential = "github", Status = 200,
        };
        _buffer = new MemoryStream();
        _json = new Utf8JsonWriter(_buffer);
    }

    [Benchmark]
    public bool SpiffeIdParse() => SpiffeId.TryParse(Id, out _, out _);

    [Benchmark]
    public bool SvidVerify() => SvidVerifier.Verify(_svid, null, _bundles, Now).Identity is not null;

    [Benchmark]
    public bool PathGuardCheck() => PathGuard.Check("/github/repos/org/repo%20name/issues?state=open") is null;

    [Benchmark]
    public void HeaderInjection() => _injector.Prepare(_credential).Apply(_request);

    [Benchmark]
    public long DecisionRecordFormat()
    {
        _buffer.SetLength(0);
        _json.Reset();
        DecisionLog.Format(_json, _record);
        _json.Flush();
        return _buffer.Length;
    }

    private sealed class NullRequest : IOutboundRequest
    {
        public void SetHeader(string name, string value)
        {
        }

        public void SetQueryParameter(string name, string value)
        {
        }
    }
}

/// <summary>A policy decision must cost the same with 1 or 10 000 rules.</summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 8)]
public class PolicyBenchmarks
{
    private PolicyModel _model = null!;
    private SpiffeId _caller = null!;
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    [Params(1, 100, 10_000)]
    public int Rules { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _caller = SpiffeId.Parse("spiffe://example.org/ns/payments/sa/api");
        var rules = new List<PolicyRule>();
        for (var i = 0; i < Rules - 1; i++)
        {
            rules.Add(Rule($"r{i}", i, $"spiffe://example.org/ns/team{i}/sa/app", i % 3 == 0 ? "*" : $"route{i % 50}"));
        }
        rules.Add(Rule("payments", Rules, "spiffe://example.org/ns/payments/sa/api", "github"));
        _model = new PolicyModel(rules);
    }

    private static PolicyRule Rule(string name, int index, string identity, string route)
    {
        SpiffeIdPattern.TryParse(identity, out var pattern, out _);
        PathPattern.TryParse("/github/**", out var path, out _);
        return new PolicyRule(name, index, false, [pattern!], [route == "*" ? "github" : route],
            new[] { "GET", "HEAD" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase), [path!], null);
    }

    [Benchmark]
    public bool Decide() => _model.Decide(_caller, "github", "GET", "/github/repos/org/repo", Now).IsAllowed;
}
