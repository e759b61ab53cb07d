using System.CommandLine;
using System.Globalization;
using SecretlessProxy.LoadKit;

var root = new RootCommand("SecretlessProxy load-test kit: an upstream, a plain YARP baseline, a load driver and the harness that compares every path");

var port = new Option<int>("--port") { Required = true };
var h2cPort = new Option<int>("--h2c-port") { Required = true };
var upstreamCommand = new Command("upstream", "A minimal Kestrel upstream: 3-byte answers, POST /token answers an OAuth2 token") { port, h2cPort };
upstreamCommand.SetAction(parse => Servers.RunUpstreamAsync(parse.GetValue(port), parse.GetValue(h2cPort)));
root.Add(upstreamCommand);

var yarpPort = new Option<int>("--port") { Required = true };
var tlsPort = new Option<int>("--tls-port") { Required = true };
var upstream = new Option<string>("--upstream") { Required = true };
var cert = new Option<string>("--cert");
var key = new Option<string>("--key");
var ca = new Option<string>("--ca");
var yarpCommand = new Command("yarp", "Plain YARP forwarding (HTTP, and HTTPS requiring a client certificate from --ca)") { yarpPort, tlsPort, upstream, cert, key, ca };
yarpCommand.SetAction(parse => Servers.RunYarpAsync(parse.GetValue(yarpPort), parse.GetValue(tlsPort), parse.GetValue(upstream)!, parse.GetValue(cert)!, parse.GetValue(key)!, parse.GetValue(ca)!));
root.Add(yarpCommand);

var url = new Option<string>("--url") { Required = true };
var concurrency = new Option<int>("--concurrency") { DefaultValueFactory = _ => 64, Description = "Connections (and, closed loop, requests in flight)" };
var warmup = new Option<double>("--warmup") { DefaultValueFactory = _ => 2, Description = "Seconds of warm-up, not measured" };
var duration = new Option<double>("--duration") { DefaultValueFactory = _ => 10, Description = "Seconds measured" };
var rate = new Option<double>("--rate") { DefaultValueFactory = _ => 0, Description = "Requests per second (open loop); 0: closed loop" };
var http2 = new Option<bool>("--http2");
var unix = new Option<string?>("--unix") { Description = "Connect to this Unix domain socket instead of the URL's host and port (the URL gives the Host header and path)" };
var proxy = new Option<string?>("--proxy") { Description = "Send through this HTTP proxy (an https URL is tunnelled with CONNECT)" };
var newConnections = new Option<bool>("--new-connections") { Description = "Close the connection after every request (Connection: close): through a proxy, a new tunnel per request" };
var postJson = new Option<string?>("--post-json") { Description = "POST this JSON body (Content-Type: application/json) instead of a GET" };
var driveCommand = new Command("drive", "Drive load at one URL and print the result as one JSON line") { url, concurrency, warmup, duration, rate, cert, key, ca, http2, unix, proxy, newConnections, postJson };
driveCommand.SetAction(async parse =>
{
    var result = await Driver.RunAsync(
        new DriveOptions(new Uri(parse.GetValue(url)!), parse.GetValue(concurrency), TimeSpan.FromSeconds(parse.GetValue(warmup)), TimeSpan.FromSeconds(parse.GetValue(duration)),
            parse.GetValue(rate), parse.GetValue(cert), parse.GetValue(key), parse.GetValue(ca), parse.GetValue(http2), parse.GetValue(unix), parse.GetValue(proxy), parse.GetValue(newConnections), parse.GetValue(postJson)),
        () => Console.WriteLine("measuring"));
    Console.WriteLine(Driver.ToJson(result));
    return 0;
});
root.Add(driveCommand);

var smoke = new Option<bool>("--smoke") { Description = "A few seconds per path, asserting only that each served requests without errors" };
var quick = new Option<bool>("--quick") { Description = "Shorter cells, one repeat" };
var repeats = new Option<int?>("--repeats") { Description = "Runs per cell (medians are reported); default 3, 1 with --quick or --smoke" };
var soak = new Option<double>("--soak") { DefaultValueFactory = _ => 0, Description = "Minutes of fixed-rate soak afterwards, sampling the proxy's RSS" };
var outDir = new Option<string?>("--out") { Description = "Folder for the results (default loadtests/results)" };
var soakOnly = new Option<bool>("--soak-only") { Description = "Only the soak (with --soak MINUTES): fixed rate at half the proxy's max, RSS sampled" };
var db = new Option<bool>("--db") { Description = "Also the database part: pgbench through the PostgreSQL gateway, beside direct and beside pgbouncer (session mode)" };
var dbOnly = new Option<bool>("--db-only") { Description = "Only the database part (no HTTP path is started)" };
var platform = new Option<bool>("--platform") { Description = "Only the platform part: wrk on every path (mTLS through the client-certificate shim), 30 s priming, pinned and unpinned, sidecar start-up curves and runtime knobs" };
var noStart = new Option<bool>("--no-start-or-knobs") { Description = "With --platform: leave out the start-up curves and the knobs" };
var profile = new Option<bool>("--profile") { Description = "Only the CPU profile by layer: perf record on nginx, plain YARP and SecretlessProxy under wrk load" };
var prime = new Option<double?>("--prime") { Description = "With --platform or --profile: seconds of priming per .NET path (default 30, 10 with --quick)" };
var noKnobs = new Option<bool>("--no-knobs") { Description = "With --platform: leave out the runtime and Kestrel knobs" };
var mcpOnly = new Option<bool>("--mcp-only") { Description = "Only the MCP part: tools/call through an MCP route beside the same POST through a plain route, same listener, credential and upstream" };
var runCommand = new Command("run", "Run the whole comparison and write the results") { smoke, quick, repeats, soak, outDir, soakOnly, db, dbOnly, platform, noStart, profile, prime, noKnobs, mcpOnly };
runCommand.SetAction(async parse =>
{
    var isSmoke = parse.GetValue(smoke);
    var isQuick = parse.GetValue(quick);
    var options = new RunOptions(isSmoke, isQuick, parse.GetValue(repeats) ?? (isSmoke || isQuick ? 1 : 3), parse.GetValue(soak), parse.GetValue(outDir), parse.GetValue(soakOnly),
        parse.GetValue(db) || parse.GetValue(dbOnly), parse.GetValue(dbOnly), parse.GetValue(platform), parse.GetValue(noStart), parse.GetValue(profile), parse.GetValue(prime), parse.GetValue(noKnobs))
    {
        McpOnly = parse.GetValue(mcpOnly),
    };
    return await Orchestrator.RunAsync(options);
});
root.Add(runCommand);

return await root.Parse(args).InvokeAsync();
