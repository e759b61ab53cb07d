using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace SecretlessProxy.LoadKit;

/// <summary>Options of a harness run.</summary>
/// <param name="Db">Also the database part (pgbench: direct, pgbouncer, the gateway); see Database.cs.</param>
/// <param name="DbOnly">Only the database part.</param>
/// <param name="Platform">Only the platform part (Platform.cs): wrk on every path, mTLS included, long priming, pinned and unpinned, start-up and knobs.</param>
/// <param name="Profile">Only the CPU profile by layer (perf record) of the mTLS and loopback paths.</param>
/// <param name="PrimeSeconds">With <paramref name="Platform"/> or <paramref name="Profile"/>: seconds of priming per .NET path (default 30; 10 with --quick).</param>
/// <param name="SkipKnobs">With <paramref name="Platform"/>: leave out the knobs only.</param>
/// <param name="SkipStartAndKnobs">With <paramref name="Platform"/>: leave out the start-up curves and the knobs.</param>
internal sealed record RunOptions(bool Smoke, bool Quick, int Repeats, double SoakMinutes, string? OutDir, bool SoakOnly = false, bool Db = false, bool DbOnly = false, bool Platform = false, bool SkipStartAndKnobs = false, bool Profile = false, double? PrimeSeconds = null, bool SkipKnobs = false)
{
    /// <summary>Only the MCP pair (<c>ours-mcp</c>, <c>ours-post</c>) and <c>direct</c>: the upstream and one proxy.</summary>
    public bool McpOnly { get; init; }
}

/// <summary>One measured cell (one generator, one path, one concurrency or rate, one repeat).</summary>
internal sealed record Cell(string Mode, string Generator, string Path, int Concurrency, double Rate, int Repeat, DriveResult Result, double? CpuUsPerRequest);

/// <summary>
/// Runs the whole comparison on loopback: starts the upstream, plain YARP, nginx, redis-server and three
/// SecretlessProxy processes with a generated dev CA, drives each path with the same load, reads each proxy's CPU
/// time from /proc before and after, and writes a Markdown table, a CSV and (unless smoke) a plot. Besides mTLS, the
/// first proxy and nginx also listen as sidecars do, without TLS: on loopback (the proxy's listener bound to one
/// identity) and on a Unix socket (the proxy attests the peer by SO_PEERCRED), each compared with nginx on the same
/// transport.
/// </summary>
internal sealed partial class Orchestrator : IAsyncDisposable
{
    private const string ClientId = "spiffe://example.org/ns/load/sa/client";

    /// <summary>The caller of the sidecar listeners: bound to the loopback listener, and the Unix socket's peers by uid.</summary>
    private const string LocalId = "spiffe://example.org/ns/load/sa/local";

    private readonly RunOptions _options;
    private readonly string _root;
    private readonly string _work;
    private readonly List<(string Name, Process Process)> _processes = [];
    private readonly Dictionary<string, int> _pids = [];
    private readonly List<Cell> _cells = [];
    private readonly StringBuilder _notes = new();
    private readonly long _clockTicks = 100;
    private int _upstreamPort;
    private int _upstreamH2cPort;

    private Orchestrator(RunOptions options, string root)
    {
        _options = options;
        _root = root;
        _work = Directory.CreateTempSubdirectory("secretless-load-").FullName;
    }

    /// <summary>A measured path; with <paramref name="Unix"/>, its connections go to that socket file (the URL gives Host and path).</summary>
    /// <remarks><paramref name="Proxy"/>: driven through this forward proxy (CONNECT for https); <paramref name="NewConnections"/>: a new
    /// connection (a new tunnel) per request; <paramref name="Ca"/>: the CA an https path without a client certificate is verified against;
    /// <paramref name="PostJson"/>: every request is a POST of this JSON body (loadkit only: wrk would need a script).</remarks>
    private sealed record PathDef(string Name, string What, string Url, bool Mtls, string? Server, string? Unix = null, string? Proxy = null, bool NewConnections = false, string? Ca = null, string? PostJson = null);

    /// <summary>The body of the MCP pair: one <c>tools/call</c> with three arguments, the same bytes on both paths.</summary>
    internal const string ToolCall = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_repositories\",\"arguments\":{\"owner\":\"acme\",\"query\":\"widget\",\"perPage\":20}}}";

    /// <summary>Ours and nginx on the same transport, compared in the report's sidecar table.</summary>
    private static readonly (string Transport, string Ours, string Nginx)[] SameTransport =
    [
        ("mTLS", "secretless", "nginx-mtls"),
        ("loopback", "ours-loopback", "nginx-loopback"),
        ("unix", "ours-unix", "nginx-unix"),
    ];

    private readonly List<PathDef> _paths = [];

    public static async Task<int> RunAsync(RunOptions options)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        if (root is null)
        {
            await Console.Error.WriteLineAsync("loadkit: run it from the repository's build output (SecretlessProxy.sln not found above it)");
            return 2;
        }
        await using var harness = new Orchestrator(options, root.FullName);
        try
        {
            return await harness.RunAllAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or FormatException)
        {
            await Console.Error.WriteLineAsync("loadkit: " + ex.Message);
            var logs = Directory.EnumerateFiles(harness._work, "*.log").Where(f => new FileInfo(f).Length > 0);
            if (harness._pgDir is { } pgDir && Directory.Exists(pgDir))
            {
                logs = logs.Concat(Directory.EnumerateFiles(pgDir, "*.log"));
            }
            foreach (var log in logs)
            {
                await Console.Error.WriteLineAsync($"--- {Path.GetFileName(log)} (last lines)");
                foreach (var line in File.ReadLines(log).TakeLast(15))
                {
                    await Console.Error.WriteLineAsync("    " + line);
                }
            }
            return 1;
        }
    }

    private TimeSpan Warmup => _options.Smoke ? TimeSpan.FromSeconds(0.3) : _options.Quick ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(2);

    // Per cell, after the global warm-up of every path.

    private TimeSpan Duration => _options.Smoke ? TimeSpan.FromSeconds(1) : _options.Quick ? TimeSpan.FromSeconds(3) : TimeSpan.FromSeconds(5);

    private int[] Concurrencies => _options.Smoke ? [4] : [16, 64, 256];

    private async Task<int> RunAllAsync()
    {
        var started = DateTimeOffset.UtcNow;
        Log($"work folder {_work}");
        if (_options.DbOnly)
        {
            await RunDatabaseAsync();
            return await ReportAsync(started, [], 0, null);
        }
        if (_options.Profile)
        {
            return await RunProfileAsync(started);
        }
        if (_options.Platform)
        {
            return await RunPlatformAsync(started);
        }
        await StartEverythingAsync();
        var idle = new Dictionary<string, double>();
        foreach (var name in new[] { "secretless", "yarp", "nginx" })
        {
            idle[name] = RssMiB(name);
        }
        if (_options.McpOnly)
        {
            return await RunMcpOnlyAsync(started, idle);
        }

        if (_options.SoakOnly)
        {
            var soakPath = Find("secretless");
            Log("warming secretless");
            await Driver.RunAsync(Options(soakPath, 64, TimeSpan.Zero, TimeSpan.FromSeconds(10), 0, http2: false));
            var max = await Driver.RunAsync(Options(soakPath, 64, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5), 0, http2: false));
            var soakRate = Math.Max(50, Math.Round(max.Rps / 2 / 50) * 50);
            var line = await SoakAsync(soakRate);
            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Idle RSS {idle["secretless"]:F1} MiB; closed-loop max {max.Rps:F0} req/s at 64 connections; soak at half of it."));
            Console.WriteLine("Soak: " + line);
            return 0;
        }
        var driverPaths = _paths.Where(p => p.Name != "direct-h2c").ToList();
        if (!_options.Smoke)
        {
            // .NET servers compile their hot paths in tiers (with profile-guided optimization) over the first seconds
            // of load: warm every path well before anything is measured, so no row measures the JIT.
            foreach (var path in driverPaths)
            {
                Log($"warming {path.Name}");
                await Driver.RunAsync(Options(path, 64, TimeSpan.Zero, _options.Quick ? TimeSpan.FromSeconds(4) : TimeSpan.FromSeconds(10), 0, http2: false));
                if (path.Mtls)
                {
                    await Driver.RunAsync(Options(path, 16, TimeSpan.Zero, TimeSpan.FromSeconds(1), 0, http2: true));
                }
            }
        }
        // wrk cannot connect to a Unix socket: those paths are driven by loadkit only (ours and nginx alike).
        // Nor through a forward proxy, nor with a new connection per request: those are loadkit only too.
        var wrkPaths = _paths.Where(p => !p.Mtls && p.Unix is null && p.Proxy is null && !p.NewConnections && p.PostJson is null && p.Name != "direct-h2c").ToList();
        for (var repeat = 1; repeat <= _options.Repeats; repeat++)
        {
            foreach (var c in Concurrencies)
            {
                foreach (var path in driverPaths)
                {
                    await MeasureAsync("closed", "loadkit", path, c, 0, repeat, http2: false, pinned: false);
                }
                foreach (var path in wrkPaths)
                {
                    await MeasureWrkAsync(path, c, repeat);
                }
            }
            var h2c = _options.Smoke ? 4 : 64;
            foreach (var name in new[] { "yarp-mtls", "nginx-mtls", "secretless" })
            {
                await MeasureAsync("closed-h2", "loadkit", Find(name), h2c, 0, repeat, http2: true, pinned: false);
            }
            await MeasureH2loadAsync(Find("direct-h2c"), h2c, repeat);
        }

        // Open loop at half the full proxy path's best closed-loop throughput.
        var best = Medians().Where(m => m.Mode == "closed" && m.Generator == "loadkit" && m.Path == "secretless").Select(m => m.Rps).DefaultIfEmpty(100).Max();
        var rate = _options.Smoke ? 50 : Math.Max(50, Math.Round(best / 2 / 50) * 50);
        var openPaths = new[] { "direct", "yarp-mtls", "nginx-mtls", "secretless" };
        for (var repeat = 1; repeat <= _options.Repeats; repeat++)
        {
            foreach (var name in openPaths)
            {
                await MeasureAsync("open", "loadkit", Find(name), _options.Smoke ? 8 : 64, rate, repeat, http2: false, pinned: false);
            }
        }

        var pinned = !_options.Smoke && Environment.ProcessorCount >= 2;
        if (pinned)
        {
            Pin(true);
            for (var repeat = 1; repeat <= _options.Repeats; repeat++)
            {
                foreach (var name in openPaths)
                {
                    await MeasureAsync("pinned", "loadkit", Find(name), 64, 0, repeat, http2: false, pinned: true);
                }
            }
            Pin(false);
        }

        if (_options.Db)
        {
            await RunDatabaseAsync();
        }

        string? soak = null;
        if (_options.SoakMinutes > 0)
        {
            soak = await SoakAsync(rate);
        }

        return await ReportAsync(started, idle, rate, soak);
    }

    private PathDef Find(string name) => _paths.Single(p => p.Name == name);

    /// <summary>
    /// <c>--mcp-only</c>: the upstream and one proxy; <c>direct</c>, <c>ours-mcp</c> and <c>ours-post</c>, warmed, then
    /// closed loop at each concurrency (loadkit), and the report with the MCP table.
    /// </summary>
    private async Task<int> RunMcpOnlyAsync(DateTimeOffset started, Dictionary<string, double> idle)
    {
        var paths = _paths.Where(p => p.Name != "direct-h2c").ToList();
        if (!_options.Smoke)
        {
            foreach (var path in paths)
            {
                Log($"warming {path.Name}");
                await Driver.RunAsync(Options(path, 64, TimeSpan.Zero, _options.Quick ? TimeSpan.FromSeconds(4) : TimeSpan.FromSeconds(10), 0, http2: false));
            }
        }
        for (var repeat = 1; repeat <= _options.Repeats; repeat++)
        {
            foreach (var c in Concurrencies)
            {
                // Alternate the order between repeats, so no path always runs right after the same other one.
                foreach (var path in repeat % 2 == 1 ? paths : Enumerable.Reverse(paths))
                {
                    await MeasureAsync("closed", "loadkit", path, c, 0, repeat, http2: false, pinned: false);
                }
            }
        }
        return await ReportAsync(started, idle, 0, null);
    }

    // ---------------------------------------------------------------- processes

    private async Task StartEverythingAsync()
    {
        var proxyDll = Path.Combine(_root, "proxy", "bin", "Release", "net10.0", "secretless-proxy.dll");
        var kitDll = Path.Combine(AppContext.BaseDirectory, "loadkit.dll");
        if (!File.Exists(proxyDll))
        {
            throw new InvalidOperationException($"{proxyDll} is missing: build with 'dotnet build SecretlessProxy.sln -c Release' (loadtests/run.sh does)");
        }
        var certs = Path.Combine(_work, "certs");
        await RunToEndAsync("dotnet", [proxyDll, "dev-ca", "init", "--out", certs]);
        await RunToEndAsync("dotnet", [proxyDll, "dev-ca", "server", "--ca", certs, "--out", certs]);
        await RunToEndAsync("dotnet", [proxyDll, "dev-ca", "issue", "--ca", certs, "--spiffe-id", ClientId, "--out", Path.Combine(_work, "client")]);
        // The forward proxy's interception CA (its leaves are what HTTPS_PROXY clients see).
        await RunToEndAsync("dotnet", [proxyDll, "dev-ca", "init", "--out", Path.Combine(_work, "icpt")]);
        await File.WriteAllTextAsync(Path.Combine(_work, "client-secret"), "load-test-client-secret");
        await File.WriteAllTextAsync(Path.Combine(_work, "aws-key-id"), "AKIDLOADTEST00000001");
        await File.WriteAllTextAsync(Path.Combine(_work, "aws-secret"), "load-test-aws-secret-access-key");
        await File.WriteAllTextAsync(Path.Combine(_work, "cache.key"), Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));

        _upstreamPort = FreePort();
        _upstreamH2cPort = FreePort();
        Start("upstream", "dotnet", [kitDll, "upstream", "--port", P(_upstreamPort), "--h2c-port", P(_upstreamH2cPort)]);
        await WaitForPortAsync(_upstreamPort);
        var upstream = $"http://127.0.0.1:{_upstreamPort}/";
        _paths.Add(new("direct", "the upstream itself, no proxy (the limit)", upstream + "direct", false, null));
        _paths.Add(new("direct-h2c", "the upstream over h2c (h2load)", $"http://127.0.0.1:{_upstreamH2cPort}/direct", false, null));

        if (!_options.McpOnly)
        {
            await StartBaselinesAsync(kitDll, upstream, certs);
        }

        var proxyPort = FreePort();
        var local = new LocalListeners(FreePort(), Path.Combine(_work, "ours.sock"), FreePort());
        Start("secretless", "dotnet", [proxyDll, "run", "--config", await ProxyConfigAsync("memory", proxyPort, upstream, cache: null, local)]);
        // The MCP pair: one tools/call POSTed through an MCP route and through a plain route, same listener, credential and upstream.
        _paths.Add(new("ours-mcp", "SecretlessProxy (same process as `secretless`) on the loopback listener, an MCP route (`Protocol: mcp`): the body read and parsed, the tools/call decided by an `mcp` rule with two argument rules, cached OAuth2 token, decision record with its `mcp` object", $"http://127.0.0.1:{local.Port}/mcp/x", false, "secretless", PostJson: ToolCall));
        _paths.Add(new("ours-post", "the same POST (same body, listener, credential and upstream) through a plain route: the HTTP policy only, the body streamed", $"http://127.0.0.1:{local.Port}/post/x", false, "secretless", PostJson: ToolCall));
        if (!_options.McpOnly)
        {
            AddProxyPaths(proxyPort, local);
            await StartRedisPathsAsync(proxyDll, upstream);
        }

        foreach (var path in _paths.Where(p => p.Name != "direct-h2c"))
        {
            await WaitForPathAsync(path);
        }
    }

    /// <summary>Plain YARP and nginx, the baselines.</summary>
    private async Task StartBaselinesAsync(string kitDll, string upstream, string certs)
    {
        var yarpPort = FreePort();
        var yarpTls = FreePort();
        Start("yarp", "dotnet", [kitDll, "yarp", "--port", P(yarpPort), "--tls-port", P(yarpTls), "--upstream", upstream,
            "--cert", Path.Combine(certs, "server.pem"), "--key", Path.Combine(certs, "server.key"), "--ca", Path.Combine(certs, "ca.pem")]);
        _paths.Add(new("yarp-http", "plain YARP reverse proxy (same pipeline, no identity, policy or injection), HTTP", $"http://127.0.0.1:{yarpPort}/yarp", false, "yarp"));
        _paths.Add(new("yarp-mtls", "plain YARP, mTLS (client certificate required, chain checked)", $"https://127.0.0.1:{yarpTls}/yarp", true, "yarp"));

        if (FindOnPath("nginx") is { } nginx)
        {
            var nginxPort = FreePort();
            var nginxTls = FreePort();
            var nginxLoopback = FreePort();
            var nginxServerTls = FreePort();
            var nginxSocket = Path.Combine(_work, "nginx.sock");
            var conf = Path.Combine(_work, "nginx.conf");
            await File.WriteAllTextAsync(conf, NginxConfig(nginxPort, nginxTls, nginxLoopback, nginxSocket, certs, nginxServerTls));
            Start("nginx", nginx, ["-p", _work + "/", "-c", conf]);
            await WaitForPortAsync(nginxTls);
            _paths.Add(new("nginx-http", "nginx reverse proxy, upstream keep-alive, HTTP", $"http://127.0.0.1:{nginxPort}/nginx", false, "nginx"));
            _paths.Add(new("nginx-mtls", "nginx, mTLS (ssl_verify_client on, same CA) + static Authorization header", $"https://127.0.0.1:{nginxTls}/nginx", true, "nginx"));
            _paths.Add(new("nginx-loopback", "nginx on loopback, plain HTTP/1.1 + static Authorization header (proxy_set_header)", $"http://127.0.0.1:{nginxLoopback}/nginx", false, "nginx"));
            _paths.Add(new("nginx-unix", "nginx on a Unix socket (listen unix:), HTTP/1.1 + static Authorization header", "http://localhost/nginx", false, "nginx", nginxSocket));
            var serverCa = Path.Combine(certs, "ca.pem");
            _paths.Add(new("nginx-tls", "nginx terminating TLS (no client certificate) + static Authorization header: what the forward proxy's tunnel is compared with", $"https://127.0.0.1:{nginxServerTls}/nginx", false, "nginx", Ca: serverCa));
            _paths.Add(new("nginx-tls-new", "nginx-tls with a new TLS connection per request", $"https://127.0.0.1:{nginxServerTls}/nginx", false, "nginx", NewConnections: true, Ca: serverCa));
        }
        else
        {
            _notes.AppendLine("- nginx is not installed: its rows are missing (loadtests/run.sh installs it).");
        }

    }

    /// <summary>The paths of the first proxy process besides the MCP pair.</summary>
    private void AddProxyPaths(int proxyPort, LocalListeners local)
    {
        _paths.Add(new("secretless", "SecretlessProxy: mTLS + SPIFFE + policy + cached OAuth2 token injection (L1)", $"https://127.0.0.1:{proxyPort}/oauth/x", true, "secretless"));
        _paths.Add(new("secretless-sigv4", "SecretlessProxy with SigV4 signing (aws-static keys, service s3)", $"https://127.0.0.1:{proxyPort}/sigv4/bucket/key", true, "secretless"));
        _paths.Add(new("ours-loopback", "SecretlessProxy (same process as `secretless`) on a loopback listener bound to one identity, plain HTTP/1.1 + policy + cached OAuth2 token injection", $"http://127.0.0.1:{local.Port}/oauth/x", false, "secretless"));
        _paths.Add(new("ours-unix", "SecretlessProxy (same process) on a Unix socket listener, peer attested by SO_PEERCRED + /proc (uid selector), HTTP/1.1 + policy + cached OAuth2 token injection", "http://localhost/oauth/x", false, "secretless", local.Socket));
        var icpt = Path.Combine(_work, "icpt", "ca.pem");
        var forwardProxy = $"http://127.0.0.1:{local.ForwardPort}";
        _paths.Add(new("forward", "SecretlessProxy (same process) as HTTPS_PROXY: CONNECT api.example.test:443, TLS intercepted with a minted leaf, policy + cached OAuth2 token injection; tunnels reused", "https://api.example.test/forward/x", false, "secretless", Proxy: forwardProxy, Ca: icpt));
        _paths.Add(new("forward-new", "the same, with a new tunnel (CONNECT + TLS handshake) per request", "https://api.example.test/forward/x", false, "secretless", Proxy: forwardProxy, NewConnections: true, Ca: icpt));
    }

    /// <summary>Two more proxy processes sharing a redis-server (L1 + L2, and L2 only), unless the platform or profile part runs.</summary>
    private async Task StartRedisPathsAsync(string proxyDll, string upstream)
    {
        if (_options.Platform || _options.Profile)
        {
            // The platform part measures the full path against nginx and plain YARP only.
        }
        else if (FindOnPath("redis-server") is { } redis)
        {
            var redisPort = FreePort();
            Start("redis", redis, ["--port", P(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            await WaitForPortAsync(redisPort);
            var l1Port = FreePort();
            var l2Port = FreePort();
            Start("secretless-l1", "dotnet", [proxyDll, "run", "--config", await ProxyConfigAsync("redis-l1", l1Port, upstream, $"cache:\n  memory: true\n  redis: {{ configuration: \"127.0.0.1:{redisPort}\", encryptionKey: ../cache.key }}\n")]);
            Start("secretless-l2", "dotnet", [proxyDll, "run", "--config", await ProxyConfigAsync("redis-only", l2Port, upstream, $"cache:\n  memory: false\n  redis: {{ configuration: \"127.0.0.1:{redisPort}\", encryptionKey: ../cache.key }}\n")]);
            _paths.Add(new("secretless-redis-l1", "SecretlessProxy with Redis as L2, L1 warm", $"https://127.0.0.1:{l1Port}/oauth/x", true, "secretless-l1"));
            _paths.Add(new("secretless-redis-only", "SecretlessProxy with Redis as L2, L1 off (every request reads Redis)", $"https://127.0.0.1:{l2Port}/oauth/x", true, "secretless-l2"));
        }
        else
        {
            _notes.AppendLine("- redis-server is not installed: the Redis rows are missing.");
        }
    }

    /// <summary>The sidecar listeners of a proxy: plain HTTP on a loopback port bound to one identity, and a Unix socket.</summary>
    /// <remarks><paramref name="ForwardPort"/>: a forward-proxy listener (HTTPS_PROXY) bound to the same identity.</remarks>
    private sealed record LocalListeners(int Port, string Socket, int ForwardPort = 0);

    private async Task<string> ProxyConfigAsync(string name, int port, string upstream, string? cache, LocalListeners? local = null)
    {
        var dir = Path.Combine(_work, "proxy-" + name);
        Directory.CreateDirectory(dir);
        var admin = FreePort();
        // The Unix socket's callers are the load driver, run as this user: the identity selects them by uid.
        var sidecars = local is null ? "" : $$"""

              - name: loopback
                url: http://127.0.0.1:{{local.Port}}
                identity: local
              - name: unix
                url: unix:{{local.Socket}}
              - name: forward
                url: http://127.0.0.1:{{local.ForwardPort}}
                identity: local
                forwardProxy: { interceptionCa: { cert: ../icpt/ca.pem, key: ../icpt/ca.key } }
            """;
        var text = $$"""
            listeners:
              - name: mtls
                url: https://127.0.0.1:{{port}}
                certificate: { cert: ../certs/server.pem, key: ../certs/server.key }
                trustBundles: { example.org: ../certs/ca.pem }{{sidecars}}
              - name: admin
                role: admin
                url: http://127.0.0.1:{{admin}}
            identities:
              client: { spiffeId: "{{ClientId}}" }
              local: { spiffeId: "{{LocalId}}", unix: { uid: {{CurrentUid()}} } }
            credentials:
              oauth:
                provider: oauth2-client-credentials
                tokenUrl: {{upstream}}token
                clientId: load
                clientSecretFile: ../client-secret
                inject: { type: header, name: Authorization, template: "Bearer {token}" }
              aws:
                provider: aws-static
                accessKeyIdFile: ../aws-key-id
                secretAccessKeyFile: ../aws-secret
                inject: { type: sigv4, service: s3, region: us-east-1 }
            policies:
              - name: client-calls-upstream
                allow: [client, local]
                routes: [oauth, sigv4, forward, mcp, post]
              - name: local-calls-tools
                allow: [local]
                routes: [mcp]
                mcp:
                  tools: [search_repositories]
                  arguments:
                    "/owner": { values: [acme] }
                    "/perPage": { min: 1, max: 100, optional: true }
            decisionLog: { sink: file, path: audit.jsonl, maxFileSize: 64MiB, maxFiles: 1 }
            {{cache ?? ""}}
            ReverseProxy:
              Routes:
                oauth: { ClusterId: up, Match: { Path: "/oauth/{**rest}" }, Metadata: { Credential: oauth } }
                sigv4: { ClusterId: up, Match: { Path: "/sigv4/{**rest}" }, Metadata: { Credential: aws } }
                forward: { ClusterId: up, Match: { Hosts: [api.example.test] }, Metadata: { Credential: oauth } }
                mcp: { ClusterId: up, Match: { Path: "/mcp/{**rest}" }, Metadata: { Protocol: mcp, Credential: oauth } }
                post: { ClusterId: up, Match: { Path: "/post/{**rest}" }, Metadata: { Credential: oauth } }
              Clusters:
                up:
                  Destinations: { d1: { Address: "{{upstream}}" } }
            """;
        var path = Path.Combine(dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    private string NginxConfig(int port, int tlsPort, int loopbackPort, string socket, string certs, int serverTlsPort) => $$"""
        daemon off;
        worker_processes auto;
        pid {{_work}}/nginx.pid;
        error_log {{_work}}/nginx-error.log warn;
        events { worker_connections 4096; }
        http {
            access_log off;
            client_body_temp_path {{_work}}/nginx-body;
            proxy_temp_path {{_work}}/nginx-proxy;
            fastcgi_temp_path {{_work}}/nginx-fastcgi;
            uwsgi_temp_path {{_work}}/nginx-uwsgi;
            scgi_temp_path {{_work}}/nginx-scgi;
            keepalive_requests 1000000;
            upstream up { server 127.0.0.1:{{_upstreamPort}}; keepalive 256; }
            server {
                listen 127.0.0.1:{{port}};
                location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
            }
            server {
                listen 127.0.0.1:{{tlsPort}} ssl http2;
                ssl_certificate {{certs}}/server.pem;
                ssl_certificate_key {{certs}}/server.key;
                ssl_client_certificate {{certs}}/ca.pem;
                ssl_verify_client on;
                location / {
                    proxy_pass http://up;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Authorization "Bearer static-token";
                }
            }
            server {
                listen 127.0.0.1:{{serverTlsPort}} ssl;
                ssl_certificate {{certs}}/server.pem;
                ssl_certificate_key {{certs}}/server.key;
                location / {
                    proxy_pass http://up;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Authorization "Bearer static-token";
                }
            }
            server {
                listen 127.0.0.1:{{loopbackPort}};
                listen unix:{{socket}};
                location / {
                    proxy_pass http://up;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Authorization "Bearer static-token";
                }
            }
        }
        """;

    private void Start(string name, string file, string[] args, string? workingDirectory = null, Action<ProcessStartInfo>? prepare = null)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory ?? _work };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        if (_perfMaps && file == "dotnet")
        {
            // perf names JIT-compiled methods from /tmp/perf-PID.map.
            start.Environment["DOTNET_PerfMapEnabled"] = "1";
            // Without this the JIT's code lives in a double-mapped memfd, which perf cannot name from the map.
            start.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        }
        prepare?.Invoke(start);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + file);
        var log = new StreamWriter(Path.Combine(_work, name + ".log")) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (log) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add((name, process));
        _pids[name] = process.Id;
    }

    private Task RunToEndAsync(string file, string[] args) => CaptureAsync(file, args, pinned: false);

    private static async Task<string> CaptureAsync(string file, IEnumerable<string> args, bool pinned)
    {
        var (exitCode, output, error) = pinned
            ? await SecretlessProxy.Testing.ChildProcess.RunAsync("taskset", ["-c", "1", file, .. args])
            : await SecretlessProxy.Testing.ChildProcess.RunAsync(file, args);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({exitCode}): {output}{error}");
        }
        return output;
    }

    private static async Task WaitForPortAsync(int port)
    {
        for (var i = 0; i < 300; i++)
        {
            try
            {
                using var socket = new TcpClient();
                await socket.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"nothing listens on 127.0.0.1:{port} after 30 s");
    }

    private static async Task WaitForSocketAsync(string socket)
    {
        for (var i = 0; i < 300; i++)
        {
            if (File.Exists(socket))
            {
                return;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"no socket at {socket} after 30 s");
    }

    private async Task WaitForPathAsync(PathDef path)
    {
        var uri = new Uri(path.Url);
        try
        {
            // A path through a forward proxy is ready when the proxy listens (its URL names a host only the proxy routes).
            await (path.Unix is not null ? WaitForSocketAsync(path.Unix) : WaitForPortAsync(path.Proxy is { } proxy ? new Uri(proxy).Port : uri.Port));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{path.Name}: {ex.Message}", ex);
        }
        string? last = null;
        for (var i = 0; i < 100; i++)
        {
            var result = await Driver.RunAsync(Options(path, 1, TimeSpan.Zero, TimeSpan.FromMilliseconds(200), 0, http2: false));
            if (result.Errors == 0 && result.Requests > 0)
            {
                // Something answered: make sure it is the server started for this path, not a stranger on its port.
                if (path.Server is not null && _processes.FirstOrDefault(p => p.Name == path.Server).Process is { HasExited: true } gone)
                {
                    throw new InvalidOperationException($"{path.Name}: its server '{path.Server}' exited (code {gone.ExitCode}); see {path.Server}.log");
                }
                return;
            }
            last = result.FirstError;
            await Task.Delay(200);
        }
        throw new InvalidOperationException($"{path.Name} ({path.Url}) does not answer 200: {last}");
    }

    private DriveOptions Options(PathDef path, int concurrency, TimeSpan warmup, TimeSpan duration, double rate, bool http2) =>
        new(new Uri(path.Url), concurrency, warmup, duration, rate,
            path.Mtls ? Path.Combine(_work, "client", "svid.pem") : null,
            path.Mtls ? Path.Combine(_work, "client", "svid.key") : null,
            path.Ca ?? (path.Mtls ? Path.Combine(_work, "certs", "ca.pem") : null), http2, path.Unix, path.Proxy, path.NewConnections, path.PostJson);

    // ---------------------------------------------------------------- measuring

    private async Task MeasureAsync(string mode, string generator, PathDef path, int concurrency, double rate, int repeat, bool http2, bool pinned)
    {
        var options = Options(path, concurrency, Warmup, Duration, rate, http2);
        var args = new List<string>
        {
            Path.Combine(AppContext.BaseDirectory, "loadkit.dll"), "drive", "--url", path.Url, "--concurrency", P(concurrency),
            "--warmup", Seconds(options.Warmup), "--duration", Seconds(options.Duration), "--rate", rate.ToString(CultureInfo.InvariantCulture),
        };
        if (path.Mtls)
        {
            args.AddRange(["--cert", options.Cert!, "--key", options.Key!, "--ca", options.Ca!]);
        }
        if (http2)
        {
            args.Add("--http2");
        }
        if (path.Unix is not null)
        {
            args.AddRange(["--unix", path.Unix]);
        }
        if (!path.Mtls && options.Ca is not null)
        {
            args.AddRange(["--ca", options.Ca]);
        }
        if (path.Proxy is not null)
        {
            args.AddRange(["--proxy", path.Proxy]);
        }
        if (path.NewConnections)
        {
            args.Add("--new-connections");
        }
        if (path.PostJson is not null)
        {
            args.AddRange(["--post-json", path.PostJson]);
        }
        // CPU is read around the measured part only: the driver prints "measuring" after its warm-up.
        var result = await DriveMeasuredAsync(args, path.Server, pinned);
        Record(new Cell(mode, http2 ? "loadkit-h2" : generator, path.Name, concurrency, rate, repeat, result.Result, result.Cpu));
    }

    private async Task<(DriveResult Result, double? Cpu)> DriveMeasuredAsync(List<string> args, string? server, bool pinned)
    {
        var start = new ProcessStartInfo(pinned ? "taskset" : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (pinned)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("1");
            start.ArgumentList.Add("dotnet");
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        long? before = null;
        string? json = null;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == "measuring")
            {
                before = server is null ? null : CpuTicks(server);
            }
            else if (line.StartsWith('{'))
            {
                json = line;
            }
        }
        var after = server is null ? null : CpuTicks(server);
        await process.WaitForExitAsync();
        if (json is null)
        {
            throw new InvalidOperationException("the load driver failed: " + await error);
        }
        var result = Driver.FromJson(json);
        double? cpu = before is { } b && after is { } a && result.Requests > 0 ? (a - b) * 1_000_000.0 / _clockTicks / result.Requests : null;
        return (result, cpu);
    }

    private async Task MeasureWrkAsync(PathDef path, int concurrency, int repeat, string mode = "closed", bool pinned = false, TimeSpan? duration = null)
    {
        if (FindOnPath("wrk") is null)
        {
            return;
        }
        await WrkAsync(path, concurrency, Warmup, pinned);
        var before = path.Server is null ? null : CpuTicks(path.Server);
        var output = await WrkAsync(path, concurrency, duration ?? Duration, pinned, latency: true);
        var after = path.Server is null ? null : CpuTicks(path.Server);
        var result = ParseWrk(output);
        double? cpu = before is { } b && after is { } a && result.Requests > 0 ? (a - b) * 1_000_000.0 / _clockTicks / result.Requests : null;
        Record(new Cell(mode, "wrk", path.Name, concurrency, 0, repeat, result, cpu));
    }

    private async Task MeasureH2loadAsync(PathDef path, int concurrency, int repeat)
    {
        if (FindOnPath("h2load") is not { } h2load)
        {
            return;
        }
        var log = Path.Combine(_work, "h2load.log");
        var output = await CaptureAsync(h2load, ["-c", P(concurrency), "-m", "1", "-t", "1", "--warm-up-time", Seconds(Warmup), "-D", Seconds(Duration), "--log-file", log, path.Url], pinned: false);
        var latencies = new List<long>();
        long errors = 0;
        foreach (var line in await File.ReadAllLinesAsync(log))
        {
            var parts = line.Split('\t');
            if (parts.Length >= 3 && int.TryParse(parts[1], CultureInfo.InvariantCulture, out var status) && long.TryParse(parts[2], CultureInfo.InvariantCulture, out var us))
            {
                if (status is >= 200 and < 300)
                {
                    latencies.Add(us * Stopwatch.Frequency / 1_000_000);
                }
                else
                {
                    errors++;
                }
            }
        }
        var failed = H2loadFailed().Match(output) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) + long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) : 0;
        var result = DriveResult.From(latencies, errors + failed, Duration.TotalSeconds, errors + failed > 0 ? "h2load counted failures" : null);
        Record(new Cell("closed-h2", "h2load", path.Name, concurrency, 0, repeat, result, null));
    }

    private void Record(Cell cell)
    {
        _cells.Add(cell);
        var r = cell.Result;
        Log($"{cell.Mode,-9} {cell.Generator,-10} {cell.Path,-22} c={cell.Concurrency,-3} {(cell.Rate > 0 ? $"rate={cell.Rate} " : "")}#{cell.Repeat}: " +
            $"{r.Rps,9:F0} req/s  p50 {r.P50Us,8:F0} µs  p99 {r.P99Us,8:F0} µs  cpu/req {(cell.CpuUsPerRequest is { } c ? c.ToString("F1", CultureInfo.InvariantCulture) + " µs" : "-"),9}  errors {r.Errors}{(r.FirstError is { } e ? " (" + e + ")" : "")}");
    }

    // ---------------------------------------------------------------- /proc

    private long? CpuTicks(string server)
    {
        if (!_pids.TryGetValue(server, out var pid))
        {
            return null;
        }
        long total = 0;
        foreach (var p in ProcessTree(pid))
        {
            if (ReadStat(p) is { } fields)
            {
                total += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
        }
        return total;
    }

    /// <summary>The resident memory of a server's processes; <paramref name="field"/> <c>RssAnon:</c> for the private (anonymous) part only.</summary>
    private double RssMiB(string server, string field = "VmRSS:")
    {
        if (!_pids.TryGetValue(server, out var pid))
        {
            return double.NaN;
        }
        long kib = 0;
        foreach (var p in ProcessTree(pid))
        {
            try
            {
                var line = File.ReadLines($"/proc/{p}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
                if (line is not null)
                {
                    kib += long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
            }
        }
        return kib / 1024.0;
    }

    /// <summary>The fields after "(comm)" of /proc/PID/stat: [0] = state, [1] = ppid, [11] = utime, [12] = stime.</summary>
    private static string[]? ReadStat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static List<int> ProcessTree(int root)
    {
        var result = new List<int> { root };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && pid != root && ReadStat(pid) is { } fields && fields[1] == root.ToString(CultureInfo.InvariantCulture))
            {
                result.Add(pid);
            }
        }
        return result;
    }

    private void Pin(bool on)
    {
        var all = $"0-{Environment.ProcessorCount - 1}";
        foreach (var (name, pid) in _pids)
        {
            var cpus = !on ? all : name is "upstream" or "redis" ? "1" : "0";
            foreach (var p in ProcessTree(pid))
            {
                using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-p", "-c", cpus, p.ToString(CultureInfo.InvariantCulture)]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                taskset.WaitForExit();
            }
        }
        Log(on ? "pinned: proxies on CPU 0; upstream, Redis and load generator on CPU 1" : "unpinned");
    }

    // ---------------------------------------------------------------- soak

    private async Task<string> SoakAsync(double rate)
    {
        var path = Find("secretless");
        var duration = TimeSpan.FromMinutes(_options.SoakMinutes);
        Log($"soak: {rate} req/s for {duration} against {path.Name}, RSS every 5 s");
        // On its own thread: the open-loop scheduler spins between requests and would not yield to the sampler.
        var drive = Task.Run(() => Driver.RunAsync(Options(path, 64, TimeSpan.Zero, duration, rate, http2: false)));
        var samples = new List<(double Minutes, double MiB)>();
        var started = Stopwatch.GetTimestamp();
        while (!drive.IsCompleted)
        {
            samples.Add((Stopwatch.GetElapsedTime(started).TotalMinutes, RssMiB("secretless")));
            await Task.WhenAny(drive, Task.Delay(TimeSpan.FromSeconds(5)));
        }
        var result = await drive;
        // The slope after the first fifth (start-up and JIT warm-up grow the heap once).
        var steady = samples.Where(s => s.Minutes >= duration.TotalMinutes / 5).ToList();
        if (steady.Count < 2)
        {
            steady = samples;
        }
        if (steady.Count < 2)
        {
            return $"too short to sample ({samples.Count} RSS samples)";
        }
        var mx = steady.Average(s => s.Minutes);
        var my = steady.Average(s => s.MiB);
        var slope = steady.Sum(s => (s.Minutes - mx) * (s.MiB - my)) / Math.Max(1e-9, steady.Sum(s => (s.Minutes - mx) * (s.Minutes - mx)));
        Directory.CreateDirectory(OutDir);
        await File.WriteAllLinesAsync(Path.Combine(OutDir, $"soak-{DateTimeOffset.UtcNow:yyyy-MM-dd}.csv"),
            ["minutes,rss_mib", .. samples.Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.Minutes:F3},{s.MiB:F1}"))]);
        return string.Create(CultureInfo.InvariantCulture,
            $"{_options.SoakMinutes} min at {rate} req/s (open loop) against `secretless`: {result.Requests} requests, {result.Errors} errors, p99 {result.P99Us / 1000:F2} ms; RSS {samples[0].MiB:F1} MiB at start, {steady.First().MiB:F1} MiB after warm-up, {samples[^1].MiB:F1} MiB at the end; slope after warm-up **{slope:F2} MiB/min** ({steady.Count} samples).");
    }

    // ---------------------------------------------------------------- report

    private sealed record Median(string Mode, string Generator, string Path, int Concurrency, double Rate, long Requests, long Errors, double Rps, double P50, double P90, double P99, double P999, double? Cpu);

    private List<Median> Medians() => _cells
        .GroupBy(c => (c.Mode, c.Generator, c.Path, c.Concurrency, c.Rate))
        .Select(g => new Median(g.Key.Mode, g.Key.Generator, g.Key.Path, g.Key.Concurrency, g.Key.Rate,
            g.Sum(c => c.Result.Requests), g.Sum(c => c.Result.Errors),
            Med(g.Select(c => c.Result.Rps)), Med(g.Select(c => c.Result.P50Us)), Med(g.Select(c => c.Result.P90Us)),
            Med(g.Select(c => c.Result.P99Us)), Med(g.Select(c => c.Result.P999Us)),
            g.All(c => c.CpuUsPerRequest is not null) ? Med(g.Select(c => c.CpuUsPerRequest!.Value)) : null))
        .ToList();

    private static double Med(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private string OutDir => _options.OutDir ?? (_options.Smoke ? _work : Path.Combine(_root, "loadtests", "results"));

    private async Task<int> ReportAsync(DateTimeOffset started, Dictionary<string, double> idle, double rate, string? soak)
    {
        var medians = Medians();
        var inv = CultureInfo.InvariantCulture;
        string Ms(double us) => double.IsNaN(us) ? "—" : (us / 1000).ToString("F2", inv);
        string Ratio(double a, double? b) => b is { } d && d > 0 && !double.IsNaN(a) ? (a / d).ToString("F2", inv) : "—";
        double? Rps(string mode, string generator, string path, int c) => medians.FirstOrDefault(m => m.Mode == mode && m.Generator == generator && m.Path == path && m.Concurrency == c)?.Rps;

        var md = new StringBuilder();
        md.AppendLine(inv, $"# Load test, {started:yyyy-MM-dd HH:mm} UTC{(_options.Smoke ? " (smoke)" : _options.Quick ? " (quick)" : "")}");
        md.AppendLine();
        if (_options.DbOnly)
        {
            md.AppendLine(inv, $"Machine: {MachineSummary()}. The database part only (`--db-only`).");
        }
        else
        {
            md.Append(inv, $"Machine: {MachineSummary()}. {(_options.McpOnly ? "The MCP part only (`--mcp-only`): one JSON POST per request" : "Small-body GETs")} (3-byte answers) on loopback; {Warmup.TotalSeconds:F1} s warm-up + {Duration.TotalSeconds:F1} s measured per cell, ");
            md.AppendLine(inv, $"{_options.Repeats} repeat(s), medians shown. CPU/req = the proxy process's user+system CPU time (/proc/PID/stat, all its threads and child processes) during the measured part, divided by the requests served. Ratios compare throughput with the same generator and concurrency.");
            md.AppendLine();
            md.AppendLine("| path | what |");
            md.AppendLine("|---|---|");
            foreach (var p in _paths)
            {
                md.AppendLine(inv, $"| `{p.Name}` | {p.What} |");
            }
            md.AppendLine();
            md.AppendLine("## Closed loop (each connection sends its next request when the last one answered)");
            md.AppendLine();
            md.AppendLine("| generator | path | conns | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU µs/req | × direct | × nginx-mtls | × yarp-mtls | errors |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var m in medians.Where(m => m.Mode is "closed" or "closed-h2").OrderBy(m => m.Mode).ThenBy(m => m.Generator).ThenBy(m => m.Concurrency).ThenBy(m => _paths.FindIndex(p => p.Name == m.Path)))
            {
                var direct = Rps(m.Mode == "closed-h2" ? "closed" : m.Mode, "loadkit", "direct", m.Concurrency);
                if (m.Generator == "wrk")
                {
                    direct = Rps("closed", "wrk", "direct", m.Concurrency);
                }
                var nginx = Rps(m.Mode, m.Generator, "nginx-mtls", m.Concurrency);
                var yarp = Rps(m.Mode, m.Generator, "yarp-mtls", m.Concurrency);
                md.AppendLine(inv, $"| {m.Generator} | `{m.Path}` | {m.Concurrency} | {m.Rps:F0} | {Ms(m.P50)} | {Ms(m.P90)} | {Ms(m.P99)} | {Ms(m.P999)} | {(m.Cpu is { } cpu ? cpu.ToString("F1", inv) : "—")} | {Ratio(m.Rps, direct)} | {Ratio(m.Rps, nginx)} | {Ratio(m.Rps, yarp)} | {m.Errors} |");
            }
            AppendSameTransport(md, medians);
            AppendForward(md, medians);
            AppendMcp(md, medians);
        }
        if (!_options.DbOnly && !_options.McpOnly)
        {
            md.AppendLine();
            md.AppendLine(inv, $"## Open loop at {rate:F0} req/s (half the full proxy path's best closed-loop throughput), {(_options.Smoke ? 8 : 64)} connections");
            md.AppendLine();
            md.AppendLine("Latency counts from when each request was due, so queueing behind a stall is not hidden (no coordinated omission).");
            md.AppendLine();
            md.AppendLine("| path | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU µs/req | p99 added over direct, ms | errors |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            var openDirect = medians.FirstOrDefault(m => m.Mode == "open" && m.Path == "direct");
            foreach (var m in medians.Where(m => m.Mode == "open").OrderBy(m => _paths.FindIndex(p => p.Name == m.Path)))
            {
                md.AppendLine(inv, $"| `{m.Path}` | {m.Rps:F0} | {Ms(m.P50)} | {Ms(m.P90)} | {Ms(m.P99)} | {Ms(m.P999)} | {(m.Cpu is { } cpu ? cpu.ToString("F1", inv) : "—")} | {(openDirect is null ? "—" : Ms(m.P99 - openDirect.P99))} | {m.Errors} |");
            }
            if (medians.Any(m => m.Mode == "pinned"))
            {
                md.AppendLine();
                md.AppendLine("## Pinned: proxies on CPU 0, upstream and load generator on CPU 1 (closed loop, 64 connections)");
                md.AppendLine();
                md.AppendLine("| path | req/s | p50 ms | p99 ms | p99.9 ms | CPU µs/req | × direct | × nginx-mtls | × yarp-mtls | errors |");
                md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
                foreach (var m in medians.Where(m => m.Mode == "pinned").OrderBy(m => _paths.FindIndex(p => p.Name == m.Path)))
                {
                    md.AppendLine(inv, $"| `{m.Path}` | {m.Rps:F0} | {Ms(m.P50)} | {Ms(m.P99)} | {Ms(m.P999)} | {(m.Cpu is { } cpu ? cpu.ToString("F1", inv) : "—")} | {Ratio(m.Rps, Rps("pinned", "loadkit", "direct", 64))} | {Ratio(m.Rps, Rps("pinned", "loadkit", "nginx-mtls", 64))} | {Ratio(m.Rps, Rps("pinned", "loadkit", "yarp-mtls", 64))} | {m.Errors} |");
                }
            }
        }
        AppendDatabase(md);
        if (!_options.DbOnly)
        {
            md.AppendLine();
            md.AppendLine("## Memory");
            md.AppendLine();
            md.AppendLine(_options.McpOnly
                ? string.Create(inv, $"Idle RSS before load: SecretlessProxy {idle["secretless"]:F1} MiB. After the run: {RssMiB("secretless"):F1} MiB.")
                : string.Create(inv, $"Idle RSS before load: SecretlessProxy {idle["secretless"]:F1} MiB, plain YARP {idle["yarp"]:F1} MiB, nginx (master + workers) {idle["nginx"]:F1} MiB. After the run: SecretlessProxy {RssMiB("secretless"):F1} MiB."));
        }
        if (soak is not null)
        {
            md.AppendLine();
            md.AppendLine("Soak: " + soak);
        }
        if (_notes.Length > 0)
        {
            md.AppendLine();
            md.AppendLine("## Notes");
            md.AppendLine();
            md.Append(_notes);
        }

        // The last seven columns are the database part's (pgbench): empty on HTTP rows.
        var csv = new StringBuilder("mode,generator,path,concurrency,rate,repeat,requests,errors,seconds,rps,p50_us,p90_us,p99_us,p999_us,cpu_us_per_request,"
            + "latency_avg_us,connection_us,initial_connection_us,postgres_cpu_us_per_tx,client_cpu_us_per_tx,other_cpu_pct,middle_switches_per_tx\n");
        foreach (var c in _cells)
        {
            var r = c.Result;
            csv.AppendLine(inv, $"{c.Mode},{c.Generator},{c.Path},{c.Concurrency},{c.Rate},{c.Repeat},{r.Requests},{r.Errors},{r.Seconds:F3},{r.Rps:F1},{r.P50Us:F1},{r.P90Us:F1},{r.P99Us:F1},{r.P999Us:F1},{(c.CpuUsPerRequest is { } cpu ? cpu.ToString("F2", inv) : "")},,,,,,,");
        }
        AppendDatabaseCsv(csv);
        Directory.CreateDirectory(OutDir);
        var stem = Path.Combine(OutDir, $"{(_options.McpOnly ? "mcp" : "loadtest")}-{started:yyyy-MM-dd}{(_options.Smoke ? "-smoke" : _options.Quick ? "-quick" : "")}");
        await File.WriteAllTextAsync(stem + ".md", md.ToString());
        await File.WriteAllTextAsync(stem + ".csv", csv.ToString());
        Console.WriteLine();
        Console.WriteLine(md.ToString());
        Console.WriteLine($"results: {stem}.md, {stem}.csv");

        // Smoke: every path served requests and none failed.
        var bad = medians.Where(m => m.Requests == 0 || m.Errors > 0).ToList();
        foreach (var m in bad)
        {
            Console.Error.WriteLine($"FAILED: {m.Mode} {m.Generator} {m.Path} c={m.Concurrency}: {m.Requests} requests, {m.Errors} errors");
        }
        var missing = _paths.Where(p => p.Name != "direct-h2c" && !medians.Any(m => m.Path == p.Name && m.Requests > 0)).ToList();
        foreach (var p in missing)
        {
            Console.Error.WriteLine($"FAILED: {p.Name} served no request");
        }
        var dbFailures = DatabaseFailures();
        foreach (var failure in dbFailures)
        {
            Console.Error.WriteLine("FAILED: " + failure);
        }
        return bad.Count == 0 && missing.Count == 0 && dbFailures.Count == 0 ? 0 : 1;
    }

    /// <summary>
    /// The forward proxy (HTTPS_PROXY: CONNECT, interception, injection) beside nginx terminating TLS for the same
    /// request with a static header, on reused and on new connections, and beside the reverse-proxy mTLS path; the
    /// CPU a new tunnel costs is the new-tunnel path's CPU per request less the reused one's.
    /// </summary>
    private static void AppendForward(StringBuilder md, List<Median> medians)
    {
        var inv = CultureInfo.InvariantCulture;
        string Cpu(double? us) => us is { } v ? v.ToString("F1", inv) : "—";
        string Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 && !double.IsNaN(x) ? (x / y).ToString("F2", inv) : "—";
        Median? Find(string path, int c) => medians.FirstOrDefault(m => m.Mode == "closed" && m.Generator == "loadkit" && m.Path == path && m.Concurrency == c);
        var rows = new List<string>();
        foreach (var c in medians.Where(m => m.Mode == "closed" && m.Generator == "loadkit" && m.Path == "forward").Select(m => m.Concurrency).Order())
        {
            var reused = Find("forward", c);
            var fresh = Find("forward-new", c);
            var nginx = Find("nginx-tls", c);
            var nginxFresh = Find("nginx-tls-new", c);
            var mtls = Find("secretless", c);
            double? perTunnel = fresh?.Cpu is { } f && reused?.Cpu is { } r ? f - r : null;
            rows.Add(string.Create(inv,
                $"| {c} | {reused?.Rps:F0} | {nginx?.Rps:F0} | **{Ratio(reused?.Rps, nginx?.Rps)}** | {Cpu(reused?.Cpu)} | {Cpu(nginx?.Cpu)} | **{Ratio(reused?.Cpu, nginx?.Cpu)}** | {Ratio(reused?.Rps, mtls?.Rps)} | {fresh?.Rps:F0} | {nginxFresh?.Rps:F0} | **{Ratio(fresh?.Rps, nginxFresh?.Rps)}** | {Cpu(fresh?.Cpu)} | {Cpu(nginxFresh?.Cpu)} | {Cpu(perTunnel)} |"));
        }
        if (rows.Count == 0)
        {
            return;
        }
        md.AppendLine();
        md.AppendLine("## Forward proxy (HTTPS_PROXY)");
        md.AppendLine();
        md.AppendLine("loadkit through the proxy's forward listener (`forward`: CONNECT api.example.test:443, a minted leaf, policy, cached OAuth2 token; "
            + "tunnels kept), and with `Connection: close` on every request (`forward-new`: a CONNECT and a TLS handshake per request), beside nginx "
            + "terminating TLS with a static header on kept and on new connections (`nginx-tls`, `nginx-tls-new`), and the reverse-proxy mTLS path "
            + "(`secretless`). CPU per new tunnel = `forward-new` CPU per request − `forward` CPU per request.");
        md.AppendLine();
        md.AppendLine("| conns | forward req/s | nginx-tls req/s | ÷ nginx | forward CPU µs/req | nginx-tls CPU µs/req | ÷ nginx CPU | ÷ secretless req/s | forward-new req/s | nginx-tls-new req/s | ÷ nginx | forward-new CPU µs/req | nginx-tls-new CPU µs/req | CPU µs per new tunnel |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            md.AppendLine(row);
        }
    }

    /// <summary>
    /// The MCP path beside the plain path: one tools/call POSTed through an MCP route (<c>ours-mcp</c>) and through a
    /// plain route (<c>ours-post</c>) of the same listener, credential and upstream; the ratio is what the MCP front-end
    /// costs (bounded read, JSON-RPC parse, the message's decision, the record's mcp object).
    /// </summary>
    private static void AppendMcp(StringBuilder md, List<Median> medians)
    {
        var inv = CultureInfo.InvariantCulture;
        string Cpu(double? us) => us is { } v ? v.ToString("F1", inv) : "—";
        string Ms(double? us) => us is { } v && !double.IsNaN(v) ? (v / 1000).ToString("F2", inv) : "—";
        string Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 && !double.IsNaN(x) ? (x / y).ToString("F2", inv) : "—";
        Median? Find(string path, int c) => medians.FirstOrDefault(m => m.Mode == "closed" && m.Generator == "loadkit" && m.Path == path && m.Concurrency == c);
        var rows = new List<string>();
        foreach (var c in medians.Where(m => m.Mode == "closed" && m.Generator == "loadkit" && m.Path == "ours-mcp").Select(m => m.Concurrency).Order())
        {
            var mcp = Find("ours-mcp", c);
            var post = Find("ours-post", c);
            double? added = mcp?.Cpu is { } a && post?.Cpu is { } b ? a - b : null;
            rows.Add(string.Create(inv,
                $"| {c} | {mcp?.Rps:F0} | {post?.Rps:F0} | **{Ratio(mcp?.Rps, post?.Rps)}** | {Ms(mcp?.P99)} | {Ms(post?.P99)} | {Cpu(mcp?.Cpu)} | {Cpu(post?.Cpu)} | **{Ratio(mcp?.Cpu, post?.Cpu)}** | {Cpu(added)} |"));
        }
        if (rows.Count == 0)
        {
            return;
        }
        md.AppendLine();
        md.AppendLine("## MCP path beside the plain path");
        md.AppendLine();
        md.AppendLine("loadkit POSTs one `tools/call` (" + ToolCall.Length.ToString(inv) + " bytes, `Content-Type: application/json`) through the loopback listener: "
            + "`ours-mcp` through an MCP route (the body read within `McpMaxMessageBytes`, parsed, the call decided by an `mcp` rule with two argument rules), "
            + "`ours-post` the same bytes through a plain route; same credential (cached OAuth2 token), same upstream, one decision record each.");
        md.AppendLine();
        md.AppendLine("| conns | mcp req/s | post req/s | mcp ÷ post | mcp p99 ms | post p99 ms | mcp CPU µs/req | post CPU µs/req | ÷ post CPU | CPU µs the MCP front-end adds |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            md.AppendLine(row);
        }
    }

    /// <summary>Ours against nginx on the same transport and generator: throughput and CPU per request, as ratios.</summary>
    private static void AppendSameTransport(StringBuilder md, List<Median> medians)
    {
        var inv = CultureInfo.InvariantCulture;
        string Cpu(double? us) => us is { } v ? v.ToString("F1", inv) : "—";
        string Ratio(double? a, double? b) => a is { } x && b is { } y && y > 0 && !double.IsNaN(x) ? (x / y).ToString("F2", inv) : "—";
        var rows = new List<string>();
        foreach (var generator in new[] { "loadkit", "wrk" })
        {
            foreach (var (transport, ours, nginx) in SameTransport)
            {
                foreach (var o in medians.Where(m => m.Mode == "closed" && m.Generator == generator && m.Path == ours).OrderBy(m => m.Concurrency))
                {
                    if (medians.FirstOrDefault(m => m.Mode == "closed" && m.Generator == generator && m.Path == nginx && m.Concurrency == o.Concurrency) is not { } n)
                    {
                        continue;
                    }
                    rows.Add(string.Create(inv,
                        $"| {generator} | {transport} | {o.Concurrency} | {o.Rps:F0} | {n.Rps:F0} | **{Ratio(o.Rps, n.Rps)}** | {Cpu(o.Cpu)} | {Cpu(n.Cpu)} | **{Ratio(o.Cpu, n.Cpu)}** | {o.P99 / 1000:F2} | {n.P99 / 1000:F2} |"));
                }
            }
        }
        if (rows.Count == 0)
        {
            return;
        }
        md.AppendLine();
        md.AppendLine("## Ours against nginx on the same transport");
        md.AppendLine();
        md.AppendLine("Closed loop, same generator and connections. Loopback and Unix socket are the sidecar transports: no TLS on the hop. "
            + "nginx adds a static `Authorization` header (`proxy_set_header`); ours does the whole path (the caller's identity from the listener or the "
            + "socket peer, policy, cached OAuth2 token injection, decision log). wrk cannot reach a Unix socket, so those rows are loadkit only; mTLS is for reference. "
            + "Throughput ratio above 1: ours serves more; CPU ratio above 1: ours spends more CPU per request.");
        md.AppendLine();
        md.AppendLine("| generator | transport | conns | ours req/s | nginx req/s | ours ÷ nginx req/s | ours CPU µs/req | nginx CPU µs/req | ours ÷ nginx CPU/req | ours p99 ms | nginx p99 ms |");
        md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in rows)
        {
            md.AppendLine(row);
        }
    }

    private static string MachineSummary()
    {
        var model = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() : null;
        var memKb = File.Exists("/proc/meminfo") ? File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1] : "?";
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} logical CPU(s), {model ?? "unknown CPU"}, {long.Parse(memKb, CultureInfo.InvariantCulture) / 1024 / 1024} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
    }

    // ---------------------------------------------------------------- helpers

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>This process's real uid (the load driver runs as the same user), from <c>/proc/self/status</c>.</summary>
    private static string CurrentUid() =>
        File.ReadLines("/proc/self/status").First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[1];

    private static string Seconds(TimeSpan span) => Math.Max(1, (int)Math.Round(span.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static int FreePort() => SecretlessProxy.Testing.LoopbackPorts.Next();

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin"]))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static double WrkUnit(string unit) => unit switch { "us" => 1, "ms" => 1000, "s" => 1_000_000, "m" => 60_000_000, _ => double.NaN };

    private static void Log(string line) => Console.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {line}");

    [GeneratedRegex(@"(\d+) requests in ([\d.]+)(us|ms|s|m)")]
    private static partial Regex WrkRequests();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex WrkNon2xx();

    [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
    private static partial Regex WrkSocketErrors();

    private static Regex WrkPercentile(string p) => new($@"^\s+{p}%\s+([\d.]+)(us|ms|s)", RegexOptions.Multiline);

    [GeneratedRegex(@"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored")]
    private static partial Regex H2loadFailed();

    public async ValueTask DisposeAsync()
    {
        await StopDatabaseAsync();
        foreach (var (_, process) in Enumerable.Reverse(_processes))
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        if (!_options.Smoke || Environment.GetEnvironmentVariable("LOADKIT_KEEP") is null)
        {
            try
            {
                Directory.Delete(_work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
