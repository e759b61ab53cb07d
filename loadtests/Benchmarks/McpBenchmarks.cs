using System.Text;
using BenchmarkDotNet.Attributes;
using SecretlessProxy.Identity;
using SecretlessProxy.Mcp;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Benchmarks;

/// <summary>
/// An MCP route's per-message work: the POSTed bytes of a <c>tools/call</c> → the bounded JSON-RPC read (depth,
/// duplicate keys, case variants, params checked) → the policy's decision with the tool name and two argument rules
/// (a glob on <c>/repo</c>, a maximum on <c>/limit</c>). ns/op and allocated bytes/op.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 8)]
public class McpBenchmarks
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private byte[] _call = null!;
    private byte[] _refusedByArgument = null!;
    private PolicyModel _model = null!;
    private WorkloadIdentity _caller = null!;

    [GlobalSetup]
    public void Setup()
    {
        _call = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"search_repositories","arguments":{"owner":"acme","repo":"acme/widgets","query":"is:open label:bug","limit":50},"_meta":{"progressToken":17}}}""");
        _refusedByArgument = Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"search_repositories","arguments":{"owner":"acme","repo":"evil/widgets","query":"is:open","limit":50}}}""");
        SpiffeIdPattern.TryParse("spiffe://example.org/ns/agents/sa/coder", out var pattern, out _);
        var mcp = new McpRule(null, ["search_repositories", "get_file_contents", "list_*"], null, null,
            [new ArgumentRule("/repo", pattern: "acme/*"), new ArgumentRule("/limit", max: 100, optional: true)]);
        _model = new PolicyModel([new PolicyRule("coder-uses-github", 0, false, [pattern!], ["github"], null, null, null, mcp: mcp)]);
        _caller = new WorkloadIdentity(SpiffeId.Parse("spiffe://example.org/ns/agents/sa/coder"), DateTimeOffset.MaxValue);
    }

    private bool Decide(byte[] bytes)
    {
        using var body = McpMessageReader.Read(bytes, 32, 32, out _)!;
        var call = body.Messages[0].Call!;
        return _model.Decide(_caller, "github", "POST", "/github/mcp", Now, null, new DecisionContext(null, null, null, call)).IsAllowed;
    }

    [Benchmark]
    public bool ToolsCallAllowed() => Decide(_call);

    [Benchmark]
    public bool ToolsCallRefusedByArgument() => Decide(_refusedByArgument);

    [Benchmark]
    public int ReadOnly()
    {
        using var body = McpMessageReader.Read(_call, 32, 32, out _)!;
        return body.Messages.Count;
    }
}
