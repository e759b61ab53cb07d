using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace SecretlessProxy.LoadKit;

/// <summary>
/// The platform part (<c>run --platform</c>): where the full path's cost goes against nginx and plain YARP, measured
/// so a skeptic accepts the numbers. wrk drives every path, the mTLS ones too (an LD_PRELOAD shim loads the client
/// certificate into wrk's OpenSSL contexts), so no .NET client shares the cores with the server under test; each
/// .NET path is primed 30 s first; medians of repeats; unpinned and pinned (servers on CPU 0, wrk and the upstream on
/// CPU 1). Then the start of a sidecar (time to the first answer, throughput and p99 per second over the first
/// minute, RSS) for each build given, and runtime knobs, each a fresh proxy process measured beside a baseline
/// started the same way in the same run.
/// </summary>
internal sealed partial class Orchestrator
{
    private string? _shim;

    private TimeSpan Prime => _options.PrimeSeconds is { } seconds ? TimeSpan.FromSeconds(seconds)
        : _options.Smoke ? TimeSpan.FromSeconds(1) : _options.Quick ? TimeSpan.FromSeconds(10) : TimeSpan.FromSeconds(30);

    private TimeSpan PlatformDuration => _options.Smoke ? TimeSpan.FromSeconds(1) : _options.Quick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(10);

    private int WarmupCurveSeconds => _options.Smoke ? 3 : 60;

    /// <summary>The paths of the platform part, in the order measured.</summary>
    private static readonly string[] PlatformPaths = ["nginx-mtls", "yarp-mtls", "secretless", "nginx-loopback", "ours-loopback"];

    private async Task<int> RunPlatformAsync(DateTimeOffset started)
    {
        _shim = await BuildShimAsync();
        await StartEverythingAsync();
        var paths = PlatformPaths.Select(Find).ToList();
        var idle = paths.Select(p => p.Server!).Distinct().ToDictionary(s => s, s => RssMiB(s));

        foreach (var path in paths.Where(p => p.Server is not "nginx"))
        {
            await PrimeAsync(path);
        }
        var concurrencies = _options.Smoke ? new[] { 4 } : [16, 64, 256];
        for (var repeat = 1; repeat <= _options.Repeats; repeat++)
        {
            foreach (var c in concurrencies)
            {
                foreach (var path in paths)
                {
                    await MeasureWrkAsync(path, c, repeat, "closed", pinned: false, PlatformDuration);
                }
            }
        }
        var loaded = paths.Select(p => p.Server!).Distinct().ToDictionary(s => s, s => RssMiB(s));

        var pinned = Environment.ProcessorCount >= 2;
        if (pinned)
        {
            Pin(true);
            foreach (var path in paths.Where(p => p.Server is not "nginx"))
            {
                // Pinning moves every thread to one core: let the thread pool settle there before measuring.
                await WrkAsync(path, 64, TimeSpan.FromSeconds(_options.Smoke ? 1 : 5), pinned: true);
            }
            for (var repeat = 1; repeat <= _options.Repeats; repeat++)
            {
                foreach (var c in _options.Smoke ? new[] { 4 } : [16, 64, 256])
                {
                    foreach (var path in paths)
                    {
                        await MeasureWrkAsync(path, c, repeat, "pinned", pinned: true, PlatformDuration);
                    }
                }
            }
            // Open loop, pinned, at half of the full path's best pinned throughput: what the proxy adds to latency when
            // it is not saturated. The .NET driver keeps the schedule (wrk cannot), on CPU 1 with the upstream.
            var best = Medians().Where(m => m.Mode == "pinned" && m.Path == "secretless").Select(m => m.Rps).DefaultIfEmpty(100).Max();
            var rate = _options.Smoke ? 50 : Math.Max(50, Math.Round(best / 2 / 50) * 50);
            for (var repeat = 1; repeat <= _options.Repeats; repeat++)
            {
                foreach (var name in new[] { "direct", "yarp-mtls", "nginx-mtls", "secretless", "ours-loopback" })
                {
                    await MeasureAsync("open-pinned", "loadkit", Find(name), _options.Smoke ? 8 : 64, rate, repeat, http2: false, pinned: true);
                }
            }
            Pin(false);
        }

        var starts = new List<StartResult>();
        var knobs = new List<KnobResult>();
        if (!_options.SkipStartAndKnobs)
        {
            foreach (var (build, command) in SidecarBuilds())
            {
                starts.Add(await MeasureStartAsync(build, command, []));
            }
            if (!_options.SkipKnobs)
            {
                knobs = await MeasureKnobsAsync();
            }
        }
        await PlatformReportAsync(started, paths, idle, loaded, starts, knobs);
        return _cells.Any(c => c.Result.Errors > 0 || c.Result.Requests == 0) ? 1 : 0;
    }

    // ---------------------------------------------------------------- wrk with a client certificate

    /// <summary>Compiles the LD_PRELOAD shim that loads a client certificate into every SSL_CTX wrk creates.</summary>
    private async Task<string> BuildShimAsync()
    {
        var source = Path.Combine(AppContext.BaseDirectory, "native", "wrk-client-cert.c");
        var output = Path.Combine(_work, "wrk-client-cert.so");
        if (FindOnPath("gcc") is not { } gcc)
        {
            throw new InvalidOperationException("gcc is needed to build the wrk client-certificate shim (loadtests/run.sh installs it)");
        }
        await CaptureAsync(gcc, ["-shared", "-fPIC", "-O2", "-Wall", "-o", output, source, "-ldl"], pinned: false);
        return output;
    }

    private void PrepareWrk(ProcessStartInfo start, PathDef path)
    {
        if (path.Mtls)
        {
            start.Environment["LD_PRELOAD"] = _shim ?? throw new InvalidOperationException("the wrk shim is not built");
            start.Environment["WRK_CLIENT_CERT"] = Path.Combine(_work, "client", "svid.pem");
            start.Environment["WRK_CLIENT_KEY"] = Path.Combine(_work, "client", "svid.key");
        }
    }

    /// <summary>Runs wrk once (2 threads, <paramref name="concurrency"/> connections) and returns its output.</summary>
    private async Task<string> WrkAsync(PathDef path, int concurrency, TimeSpan duration, bool pinned, bool latency = false)
    {
        var wrk = FindOnPath("wrk") ?? throw new InvalidOperationException("wrk is not installed (loadtests/run.sh installs it)");
        var start = new ProcessStartInfo(pinned ? "taskset" : wrk) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (pinned)
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("1");
            start.ArgumentList.Add(wrk);
        }
        foreach (var arg in new[] { "-t", Math.Min(2, concurrency).ToString(CultureInfo.InvariantCulture), "-c", P(concurrency), "-d", Seconds(duration) + "s" })
        {
            start.ArgumentList.Add(arg);
        }
        if (latency)
        {
            start.ArgumentList.Add("--latency");
        }
        start.ArgumentList.Add(path.Url);
        PrepareWrk(start, path);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start wrk");
        var error = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"wrk against {path.Name} failed ({process.ExitCode}): {output}{await error}");
        }
        return output;
    }

    /// <summary>Primes a .NET path (tiered JIT, dynamic PGO) until its throughput is flat, at least <see cref="Prime"/>.</summary>
    private async Task PrimeAsync(PathDef path)
    {
        Log($"priming {path.Name} for {Prime.TotalSeconds:F0} s");
        await WrkAsync(path, 64, Prime, pinned: false);
    }

    /// <summary>Parses one wrk run's output into a result.</summary>
    private static DriveResult ParseWrk(string output)
    {
        var match = WrkRequests().Match(output);
        if (!match.Success)
        {
            return new DriveResult(0, 0, 0, 0, double.NaN, double.NaN, double.NaN, double.NaN, "wrk printed no summary");
        }
        var requests = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var seconds = double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture) * WrkUnit(match.Groups[3].Value) / 1_000_000;
        long errors = 0;
        if (WrkNon2xx().Match(output) is { Success: true } non2xx)
        {
            errors += long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture);
        }
        if (WrkSocketErrors().Match(output) is { Success: true } socket)
        {
            errors += Enumerable.Range(1, 4).Sum(i => long.Parse(socket.Groups[i].Value, CultureInfo.InvariantCulture));
        }
        double Percentile(string p) => WrkPercentile(p).Match(output) is { Success: true } m
            ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * WrkUnit(m.Groups[2].Value) : double.NaN;
        // wrk's latency line gives p50/p75/p90/p99 only with --latency; without it, the p99 stays NaN.
        return new DriveResult(requests, errors, seconds, seconds > 0 ? requests / seconds : 0, Percentile("50"), Percentile("90"), Percentile("99"), double.NaN,
            errors > 0 ? "wrk counted errors" : null);
    }

    // ---------------------------------------------------------------- start-up of a sidecar

    /// <summary>One measured start of a proxy build.</summary>
    private sealed record StartResult(string Build, double FirstAnswerMs, double IdleMiB, double IdleAnonMiB, double LoadedMiB, double LoadedAnonMiB, double SteadyRps, double[] Rps, double[] P99Us, long Errors, double? BinaryMiB);

    /// <summary>
    /// The builds whose start is measured: the JIT build (<c>dotnet secretless-proxy.dll</c>) always, and a Native
    /// AOT or ReadyToRun build when one has been published to <c>proxy/bin/sidecar-aot</c> or <c>proxy/bin/sidecar-r2r</c>
    /// (<c>scripts/publish-sidecar.sh</c>).
    /// </summary>
    private IEnumerable<(string Build, string[] Command)> SidecarBuilds()
    {
        yield return ("jit (dotnet secretless-proxy.dll)", ["dotnet", Path.Combine(_root, "proxy", "bin", "Release", "net10.0", "secretless-proxy.dll")]);
        var r2r = Path.Combine(_root, "proxy", "bin", "sidecar-r2r", "secretless-proxy");
        if (File.Exists(r2r))
        {
            yield return ("ReadyToRun (single folder)", [r2r]);
        }
        var aot = Path.Combine(_root, "proxy", "bin", "sidecar-aot", "secretless-proxy");
        if (File.Exists(aot))
        {
            yield return ("Native AOT", [aot]);
        }
    }

    /// <summary>
    /// Starts a fresh sidecar (the loopback listener of the load config), times the first answered request from the
    /// process start, records its idle RSS, then drives wrk at 64 connections in one-second runs for the first minute
    /// (req/s and p99 per second), then reads the RSS under that load.
    /// </summary>
    private async Task<StartResult> MeasureStartAsync(string build, string[] command, Dictionary<string, string> environment)
    {
        var upstream = $"http://127.0.0.1:{_upstreamPort}/";
        var local = new LocalListeners(FreePort(), Path.Combine(_work, $"start-{_starts++}.sock"));
        var config = await ProxyConfigAsync($"start-{_starts}", FreePort(), upstream, cache: null, local);
        var name = $"start-{_starts}";
        var url = $"http://127.0.0.1:{local.Port}/oauth/x";
        Log($"start of {build}{(environment.Count > 0 ? " with " + string.Join(' ', environment.Select(e => e.Key + "=" + e.Value)) : "")}");
        using var client = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(200) }) { Timeout = TimeSpan.FromSeconds(5) };
        // The harness's own HttpClient compiles its send path on first use: do that against the upstream before the
        // clock starts, so the first-answer time is the proxy's, not this process's JIT.
        for (var i = 0; i < 20; i++)
        {
            using var warm = await client.GetAsync(upstream + "direct");
        }
        try
        {
            using var refused = await client.GetAsync(url);
        }
        catch (HttpRequestException)
        {
            // Nothing listens there yet: this compiled the refused-connect path too.
        }
        var clock = Stopwatch.StartNew();
        Start(name, command[0], [.. command.Skip(1), "run", "--config", config], prepare: s =>
        {
            foreach (var (key, value) in environment)
            {
                s.Environment[key] = value;
            }
        });
        double firstAnswer = double.NaN;
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                using var response = await client.GetAsync(url);
                if (response.IsSuccessStatusCode)
                {
                    firstAnswer = clock.Elapsed.TotalMilliseconds;
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet: try again at once (a refused connect on loopback costs microseconds).
            }
            if (_processes.First(p => p.Name == name).Process.HasExited)
            {
                throw new InvalidOperationException($"{build} exited at start; see {name}.log");
            }
        }
        if (double.IsNaN(firstAnswer))
        {
            throw new TimeoutException($"{build} did not answer within 30 s");
        }
        var idle = RssMiB(name);
        var idleAnon = RssMiB(name, "RssAnon:");
        var path = new PathDef(name, build, url, false, name);
        var rps = new List<double>();
        var p99 = new List<double>();
        long errors = 0;
        for (var second = 0; second < WarmupCurveSeconds; second++)
        {
            var result = ParseWrk(await WrkAsync(path, 64, TimeSpan.FromSeconds(1), pinned: false, latency: true));
            rps.Add(result.Rps);
            p99.Add(result.P99Us);
            errors += result.Errors;
        }
        var loadedMiB = RssMiB(name);
        var loadedAnon = RssMiB(name, "RssAnon:");
        var steady = Med(rps.Skip(rps.Count * 2 / 3));
        StopProcess(name);
        var file = command[0] == "dotnet" ? null : command[0];
        double? binary = file is null ? null : Directory.EnumerateFiles(Path.GetDirectoryName(file)!, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length) / 1048576.0;
        var line = string.Create(CultureInfo.InvariantCulture, $"{build}: first answer {firstAnswer:F0} ms after start, idle RSS {idle:F1} MiB, {loadedMiB:F1} MiB under load, steady {steady:F0} req/s");
        Log(line);
        return new StartResult(build, firstAnswer, idle, idleAnon, loadedMiB, loadedAnon, steady, [.. rps], [.. p99], errors, binary);
    }

    private int _starts;

    private void StopProcess(string name)
    {
        var index = _processes.FindIndex(p => p.Name == name);
        if (index < 0)
        {
            return;
        }
        var process = _processes[index].Process;
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        process.Dispose();
        _processes.RemoveAt(index);
        _pids.Remove(name);
    }

    // ---------------------------------------------------------------- runtime knobs

    /// <summary>One knob's measurement: a fresh proxy process with these settings, beside the baseline's.</summary>
    private sealed record KnobResult(string Knob, string Settings, double LoopbackRps, double LoopbackCpu, double LoopbackP99, double MtlsRps, double MtlsCpu, double MtlsP99, double IdleMiB, double LoadedMiB, long Errors);

    /// <summary>The runtime and Kestrel settings tried, each in its own process (environment variables only: no rebuild).</summary>
    private static readonly (string Knob, Dictionary<string, string> Environment)[] Knobs =
    [
        ("baseline (as shipped: workstation GC, concurrent, tiered PGO)", []),
        ("workstation GC, non-concurrent", new() { ["DOTNET_gcConcurrent"] = "0" }),
        ("server GC", new() { ["DOTNET_gcServer"] = "1" }),
        ("server GC + DATAS", new() { ["DOTNET_gcServer"] = "1", ["DOTNET_GCDynamicAdaptationMode"] = "1" }),
        ("GCgen0size 32 MiB", new() { ["DOTNET_GCgen0size"] = "0x2000000" }),
        ("thread pool: no spinning (UnfairSemaphoreSpinLimit 0)", new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" }),
        ("Kestrel inline scheduling + socket completions inline", new() { ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1", ["SECRETLESS_KESTREL_INLINE_SCHEDULING"] = "1" }),
        ("Kestrel IOQueueCount 1", new() { ["SECRETLESS_KESTREL_IO_QUEUES"] = "1" }),
        ("no spinning + Kestrel inline + sockets inline", new() { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0", ["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = "1", ["SECRETLESS_KESTREL_INLINE_SCHEDULING"] = "1" }),
        ("baseline again (drift check)", []),
    ];

    private async Task<List<KnobResult>> MeasureKnobsAsync()
    {
        var proxyDll = Path.Combine(_root, "proxy", "bin", "Release", "net10.0", "secretless-proxy.dll");
        var upstream = $"http://127.0.0.1:{_upstreamPort}/";
        var results = new List<KnobResult>();
        var prime = _options.Smoke ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(20);
        var repeats = _options.Smoke ? 1 : 2;
        foreach (var (knob, environment) in Knobs)
        {
            var name = $"knob-{results.Count}";
            var local = new LocalListeners(FreePort(), Path.Combine(_work, name + ".sock"));
            var mtlsPort = FreePort();
            var config = await ProxyConfigAsync(name, mtlsPort, upstream, cache: null, local);
            Start(name, "dotnet", [proxyDll, "run", "--config", config], prepare: s =>
            {
                foreach (var (key, value) in environment)
                {
                    s.Environment[key] = value;
                }
            });
            var loopback = new PathDef(name + "-loopback", knob, $"http://127.0.0.1:{local.Port}/oauth/x", false, name);
            var mtls = new PathDef(name + "-mtls", knob, $"https://127.0.0.1:{mtlsPort}/oauth/x", true, name);
            await WaitForPathAsync(loopback);
            await WaitForPathAsync(mtls);
            var idle = RssMiB(name);
            Log($"knob: {knob}: priming {prime.TotalSeconds:F0} s on each transport");
            await WrkAsync(loopback, 64, prime, pinned: false);
            await WrkAsync(mtls, 64, prime, pinned: false);
            var before = _cells.Count;
            for (var repeat = 1; repeat <= repeats; repeat++)
            {
                await MeasureWrkAsync(loopback, 64, repeat, "knob", pinned: false, PlatformDuration);
                await MeasureWrkAsync(mtls, 64, repeat, "knob", pinned: false, PlatformDuration);
            }
            var loaded = RssMiB(name);
            var cells = _cells.Skip(before).ToList();
            KnobResult From() => new(knob, environment.Count == 0 ? "—" : string.Join(" ", environment.Select(e => $"`{e.Key}={e.Value}`")),
                Med(cells.Where(c => c.Path == loopback.Name).Select(c => c.Result.Rps)), Med(cells.Where(c => c.Path == loopback.Name).Select(c => c.CpuUsPerRequest ?? double.NaN)),
                Med(cells.Where(c => c.Path == loopback.Name).Select(c => c.Result.P99Us)),
                Med(cells.Where(c => c.Path == mtls.Name).Select(c => c.Result.Rps)), Med(cells.Where(c => c.Path == mtls.Name).Select(c => c.CpuUsPerRequest ?? double.NaN)),
                Med(cells.Where(c => c.Path == mtls.Name).Select(c => c.Result.P99Us)),
                idle, loaded, cells.Sum(c => c.Result.Errors));
            results.Add(From());
            StopProcess(name);
        }
        return results;
    }

    // ---------------------------------------------------------------- report

    private async Task PlatformReportAsync(DateTimeOffset started, List<PathDef> paths, Dictionary<string, double> idle, Dictionary<string, double> loaded, List<StartResult> starts, List<KnobResult> knobs)
    {
        var inv = CultureInfo.InvariantCulture;
        var medians = Medians();
        Median? M(string mode, string path, int c) => medians.FirstOrDefault(m => m.Mode == mode && m.Path == path && m.Concurrency == c && m.Generator == "wrk");
        string F(double? v, string format = "F0") => v is { } d && !double.IsNaN(d) ? d.ToString(format, inv) : "—";
        string R(double? a, double? b) => a is { } x && b is { } y && y > 0 && !double.IsNaN(x) && !double.IsNaN(y) ? (x / y).ToString("F2", inv) : "—";

        var md = new StringBuilder();
        md.AppendLine(inv, $"# Platform comparison, {started:yyyy-MM-dd HH:mm} UTC{(_options.Smoke ? " (smoke)" : _options.Quick ? " (quick)" : "")}");
        md.AppendLine();
        var prime = Prime.TotalSeconds.ToString("F0", inv);
        var cell = PlatformDuration.TotalSeconds.ToString("F0", inv);
        md.AppendLine($"Machine: {MachineSummary()}. wrk (2 threads) drives every path, mTLS ones with the client certificate loaded by the LD_PRELOAD shim "
            + $"(`loadtests/LoadKit/native/wrk-client-cert.c`); each .NET path primed {prime} s at 64 connections first; "
            + $"{cell} s per cell; medians of {_options.Repeats} repeat(s). CPU per request: the server's user + system time from `/proc` "
            + "over the measured run ÷ requests served (nginx: master and workers).");
        md.AppendLine();
        foreach (var mode in new[] { "closed", "pinned" })
        {
            md.AppendLine(mode == "closed" ? "## Unpinned" : "## Pinned (servers on CPU 0; wrk and the upstream on CPU 1)");
            md.AppendLine();
            md.AppendLine("| path | conns | req/s | p50 ms | p99 ms | CPU µs/req | req/s ÷ nginx | CPU ÷ nginx | CPU ÷ plain YARP |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var c in medians.Where(m => m.Mode == mode && m.Generator == "wrk").Select(m => m.Concurrency).Distinct().Order())
            {
                foreach (var path in paths)
                {
                    if (M(mode, path.Name, c) is not { } m)
                    {
                        continue;
                    }
                    var nginx = path.Mtls ? M(mode, "nginx-mtls", c) : M(mode, "nginx-loopback", c);
                    var yarp = path.Mtls ? M(mode, "yarp-mtls", c) : null;
                    md.AppendLine(inv, $"| `{path.Name}` | {c} | {F(m.Rps)} | {F(m.P50 / 1000, "F2")} | {F(m.P99 / 1000, "F2")} | {F(m.Cpu, "F1")} | {R(m.Rps, nginx?.Rps)} | {R(m.Cpu, nginx?.Cpu)} | {R(m.Cpu, yarp?.Cpu)} |");
                }
            }
            md.AppendLine();
        }
        var open = medians.Where(m => m.Mode == "open-pinned").ToList();
        if (open.Count > 0)
        {
            var direct = open.FirstOrDefault(m => m.Path == "direct");
            md.AppendLine(inv, $"## Open loop, pinned, at {F(open[0].Rate)} req/s (half of the full path's best pinned throughput; the .NET driver keeps the schedule)");
            md.AppendLine();
            md.AppendLine("| path | p50 ms | p99 ms | p99.9 ms | p99 added over direct, ms |");
            md.AppendLine("|---|---|---|---|---|");
            foreach (var m in open)
            {
                md.AppendLine(inv, $"| `{m.Path}` | {F(m.P50 / 1000, "F2")} | {F(m.P99 / 1000, "F2")} | {F(m.P999 / 1000, "F2")} | {(direct is null || m.Path == "direct" ? "—" : F((m.P99 - direct.P99) / 1000, "F2"))} |");
            }
            md.AppendLine();
        }
        md.AppendLine("## Memory (RSS, MiB)");
        md.AppendLine();
        md.AppendLine("| server | idle (after start) | after the closed-loop runs |");
        md.AppendLine("|---|---|---|");
        foreach (var (server, mib) in idle)
        {
            md.AppendLine(inv, $"| `{server}` | {F(mib, "F1")} | {F(loaded.GetValueOrDefault(server, double.NaN), "F1")} |");
        }
        md.AppendLine();
        if (starts.Count > 0)
        {
            md.AppendLine("## Start of a sidecar (loopback listener, 64 connections from the first answer on)");
            md.AppendLine();
            md.AppendLine("| build | first answer after start, ms | idle RSS MiB (private) | RSS under load MiB (private) | steady req/s (last third) | first second ÷ steady | first 5 s ÷ steady | size on disk MiB | errors |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var s in starts)
            {
                md.AppendLine(inv, $"| {s.Build} | {F(s.FirstAnswerMs)} | {F(s.IdleMiB, "F1")} ({F(s.IdleAnonMiB, "F1")}) | {F(s.LoadedMiB, "F1")} ({F(s.LoadedAnonMiB, "F1")}) | {F(s.SteadyRps)} | {R(s.Rps.FirstOrDefault(), s.SteadyRps)} | {R(s.Rps.Take(5).DefaultIfEmpty().Average(), s.SteadyRps)} | {F(s.BinaryMiB, "F1")} | {s.Errors} |");
            }
            md.AppendLine();
            md.AppendLine("Warm-up curves (req/s, and p99 in ms, per second after the first answer):");
            md.AppendLine();
            md.AppendLine("| second | " + string.Join(" | ", starts.Select(s => s.Build + " req/s | p99 ms")) + " |");
            md.AppendLine("|---|" + string.Concat(starts.Select(_ => "---|---|")));
            for (var i = 0; i < starts.Max(s => s.Rps.Length); i++)
            {
                md.AppendLine(string.Create(inv, $"| {i + 1} | ") + string.Join(" | ", starts.Select(s => i < s.Rps.Length ? $"{F(s.Rps[i])} | {F(s.P99Us[i] / 1000, "F2")}" : "— | —")) + " |");
            }
            md.AppendLine();
        }
        if (knobs.Count > 0)
        {
            var baseline = knobs[0];
            md.AppendLine("## Runtime and Kestrel knobs (each a fresh `secretless` process, primed, 64 connections, wrk; ratios against the baseline above)");
            md.AppendLine();
            md.AppendLine("| knob | settings | loopback req/s | loopback CPU µs/req | loopback p99 ms | mTLS req/s | mTLS CPU µs/req | mTLS p99 ms | CPU ÷ baseline (loopback, mTLS) | idle / loaded RSS MiB | errors |");
            md.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var k in knobs)
            {
                md.AppendLine(inv, $"| {k.Knob} | {k.Settings} | {F(k.LoopbackRps)} | {F(k.LoopbackCpu, "F1")} | {F(k.LoopbackP99 / 1000, "F2")} | {F(k.MtlsRps)} | {F(k.MtlsCpu, "F1")} | {F(k.MtlsP99 / 1000, "F2")} | {R(k.LoopbackCpu, baseline.LoopbackCpu)}, {R(k.MtlsCpu, baseline.MtlsCpu)} | {F(k.IdleMiB, "F1")} / {F(k.LoadedMiB, "F1")} | {k.Errors} |");
            }
            md.AppendLine();
        }
        var errors = _cells.Where(c => c.Result.Errors > 0 || c.Result.Requests == 0).ToList();
        if (errors.Count > 0)
        {
            md.AppendLine("## Cells with errors");
            md.AppendLine();
            foreach (var c in errors)
            {
                md.AppendLine(inv, $"- {c.Mode} {c.Path} c={c.Concurrency} #{c.Repeat}: {c.Result.Errors} errors of {c.Result.Requests} ({c.Result.FirstError})");
            }
            md.AppendLine();
        }
        Directory.CreateDirectory(OutDir);
        var stamp = $"{started:yyyy-MM-dd}{(_options.Smoke ? "-smoke" : _options.Quick ? "-quick" : "")}";
        var file = Path.Combine(OutDir, $"platform-{stamp}.md");
        await File.WriteAllTextAsync(file, md.ToString());
        var csv = new StringBuilder("mode,generator,path,concurrency,rate,repeat,requests,errors,rps,p50_us,p90_us,p99_us,cpu_us_per_request\n");
        foreach (var c in _cells)
        {
            csv.AppendLine(inv, $"{c.Mode},{c.Generator},{c.Path},{c.Concurrency},{c.Rate},{c.Repeat},{c.Result.Requests},{c.Result.Errors},{c.Result.Rps:F1},{c.Result.P50Us:F1},{c.Result.P90Us:F1},{c.Result.P99Us:F1},{c.CpuUsPerRequest?.ToString("F2", inv)}");
        }
        await File.WriteAllTextAsync(Path.Combine(OutDir, $"platform-{stamp}.csv"), csv.ToString());
        Console.WriteLine();
        Console.WriteLine(md.ToString());
        Log($"wrote {file}");
    }
}

/// <summary>
/// Where the CPU goes (<c>run --platform --profile</c>): samples each server with <c>perf record -e cpu-clock</c> while
/// wrk drives it at 64 connections, and sorts the samples into platform layers by shared object and (for JIT-compiled
/// .NET code, named through <c>DOTNET_PerfMapEnabled=1</c>'s perf map) by namespace.
/// </summary>
internal static class CpuProfile
{
    /// <summary>The layer a sample belongs to, from perf's shared object and symbol.</summary>
    public static string Layer(string dso, string symbol)
    {
        if (dso.Contains("kernel", StringComparison.Ordinal))
        {
            return "kernel (TCP, epoll, scheduling, copies)";
        }
        if (dso.StartsWith("libcrypto", StringComparison.Ordinal) || dso.StartsWith("libssl", StringComparison.Ordinal)
            || dso.Contains("Cryptography.Native", StringComparison.Ordinal))
        {
            return "TLS (OpenSSL and its .NET interop)";
        }
        if (dso.StartsWith("libclrjit", StringComparison.Ordinal))
        {
            return "JIT compiler";
        }
        if (dso.StartsWith("libcoreclr", StringComparison.Ordinal))
        {
            // Microsoft ships libcoreclr.so stripped: its samples are addresses, so GC, allocation helpers, type-cast
            // stubs and the thread pool's spin-waits cannot be told apart here.
            return "CoreCLR native (GC, allocation, casts, spin-waits)";
        }
        if (dso.StartsWith("libSystem.Native", StringComparison.Ordinal))
        {
            return "System.Native (syscall shims)";
        }
        if (dso.StartsWith("libc", StringComparison.Ordinal) || dso.StartsWith("ld-linux", StringComparison.Ordinal) || dso.StartsWith("libpthread", StringComparison.Ordinal))
        {
            return "libc";
        }
        if (dso == "nginx")
        {
            return "nginx (HTTP parsing, proxying, event loop)";
        }
        // JIT-compiled code (perf-PID.map, "[JIT] tid N") or a ReadyToRun/AOT image: sort by namespace.
        return symbol switch
        {
            _ when symbol.Contains("System.Net.Security", StringComparison.Ordinal) => "SslStream (framing, buffers)",
            _ when symbol.Contains("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) => "Kestrel (connections, HTTP/1.1 parsing and writing)",
            _ when symbol.Contains("System.Net.Http", StringComparison.Ordinal) => "HttpClient (the forwarder's outbound HTTP/1.1)",
            _ when symbol.Contains("Yarp.", StringComparison.Ordinal) => "YARP (forwarder, transforms, routing)",
            _ when symbol.Contains("SecretlessProxy", StringComparison.Ordinal) => "ours (identity, policy, injection, audit, metrics)",
            _ when symbol.Contains("System.Net.Sockets", StringComparison.Ordinal) || symbol.Contains("System.IO.Pipelines", StringComparison.Ordinal) => "sockets and pipelines (managed)",
            _ when symbol.Contains("System.Threading", StringComparison.Ordinal) || symbol.Contains("AsyncTaskMethodBuilder", StringComparison.Ordinal)
                || symbol.Contains("AsyncStateMachineBox", StringComparison.Ordinal) || symbol.Contains("ExecutionContext", StringComparison.Ordinal) => "thread pool and async machinery",
            _ when symbol.Contains("Microsoft.AspNetCore", StringComparison.Ordinal) || symbol.Contains("Microsoft.Extensions", StringComparison.Ordinal) => "ASP.NET Core (hosting, routing, middleware)",
            _ when symbol.Contains("Prometheus", StringComparison.Ordinal) || symbol.Contains("System.Diagnostics", StringComparison.Ordinal) => "metrics and diagnostics",
            _ when symbol.StartsWith("stub ", StringComparison.Ordinal) || symbol.Contains("CastHelpers", StringComparison.Ordinal) || symbol.Contains("VirtualDispatchHelpers", StringComparison.Ordinal)
                || symbol.Contains("StaticsHelpers", StringComparison.Ordinal) || symbol.Contains("RuntimeTypeHandle", StringComparison.Ordinal) || symbol.Contains("System.Type::", StringComparison.Ordinal)
                || symbol.Contains("System.Runtime.CompilerServices", StringComparison.Ordinal) => "runtime helpers (casts, interface dispatch, stubs, type checks)",
            _ when symbol.Contains("System.Private.CoreLib", StringComparison.Ordinal) => "CoreLib (memory copies, strings, collections)",
            _ => "other managed code (collections, strings, BCL)",
        };
    }
}

internal sealed partial class Orchestrator
{
    /// <summary>Samples each mTLS server's CPU under load and writes the breakdown by layer.</summary>
    private async Task<int> RunProfileAsync(DateTimeOffset started)
    {
        if (FindOnPath("perf") is not { } perf)
        {
            throw new InvalidOperationException("perf is not installed (Debian's linux-perf; loadtests/run.sh --profile installs it)");
        }
        _shim = await BuildShimAsync();
        _perfMaps = true;
        await StartEverythingAsync();
        var names = new[] { "nginx-mtls", "yarp-mtls", "secretless", "nginx-loopback", "ours-loopback" };
        var layers = new Dictionary<string, Dictionary<string, double>>();
        Directory.CreateDirectory(OutDir);
        var seconds = _options.Smoke ? 2 : _options.Quick ? 8 : 15;
        foreach (var name in names)
        {
            var path = Find(name);
            if (path.Server is not "nginx")
            {
                await PrimeAsync(path);
            }
            var data = Path.Combine(_work, $"perf-{name}.data");
            var pids = string.Join(',', ProcessTree(_pids[path.Server!]));
            Log($"profiling {name} (pids {pids}) for {seconds} s at 64 connections");
            var load = WrkAsync(path, 64, TimeSpan.FromSeconds(seconds + 2), pinned: false);
            await CaptureAsync(perf, ["record", "-e", "cpu-clock", "-F", "999", "-p", pids, "-o", data, "--", "sleep", P(seconds)], pinned: false);
            await load;
            var report = await CaptureAsync(perf, ["report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym", "--percent-limit", "0", "-q"], pinned: false);
            var byLayer = new Dictionary<string, double>();
            foreach (var line in report.Split('\n'))
            {
                // "    12.34%  libcrypto.so.3   [.] aesni_gcm_encrypt"
                var m = System.Text.RegularExpressions.Regex.Match(line, @"^\s*([\d.]+)%\s+(.+?)\s+\[(.)\]\s+(.*)$");
                if (!m.Success)
                {
                    continue;
                }
                var layer = CpuProfile.Layer(m.Groups[2].Value, m.Groups[4].Value);
                byLayer[layer] = byLayer.GetValueOrDefault(layer) + double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            }
            layers[name] = byLayer;
            var top = string.Join(Environment.NewLine, report.Split('\n').Where(l => l.Contains('%')).Take(80));
            await File.WriteAllTextAsync(Path.Combine(OutDir, $"profile-{started:yyyy-MM-dd}-{name}-top.txt"), top + Environment.NewLine);
        }
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(inv, $"# CPU profile by layer, {started:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine($"Machine: {MachineSummary()}. `perf record -e cpu-clock -F 999` on each server's processes for {seconds} s while wrk drives 64 connections "
            + "(primed first); .NET code named through `DOTNET_PerfMapEnabled=1`. Shares of the server's samples, in percent.");
        md.AppendLine();
        md.AppendLine("| layer | " + string.Join(" | ", names.Select(n => $"`{n}`")) + " |");
        md.AppendLine("|---|" + string.Concat(names.Select(_ => "---|")));
        foreach (var layer in layers.Values.SelectMany(l => l.Keys).Distinct().OrderByDescending(l => layers.Values.Sum(v => v.GetValueOrDefault(l))))
        {
            md.AppendLine($"| {layer} | " + string.Join(" | ", names.Select(n => layers[n].TryGetValue(layer, out var v) ? v.ToString("F1", inv) : "—")) + " |");
        }
        Directory.CreateDirectory(OutDir);
        var file = Path.Combine(OutDir, $"profile-{started:yyyy-MM-dd}.md");
        await File.WriteAllTextAsync(file, md.ToString());
        Console.WriteLine(md.ToString());
        Log($"wrote {file}");
        return 0;
    }

    private bool _perfMaps;
}
