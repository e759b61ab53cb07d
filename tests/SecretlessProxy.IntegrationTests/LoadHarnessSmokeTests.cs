using System.Diagnostics;
using System.Text.RegularExpressions;

namespace SecretlessProxy.IntegrationTests;

/// <summary>Runs alone: the load harness saturates the machine for half a minute.</summary>
[CollectionDefinition(nameof(LoadHarnessCollection), DisableParallelization = true)]
public sealed class LoadHarnessCollection;

/// <summary>
/// The load test's smoke mode (<c>bash loadtests/run.sh --smoke</c>): every path — direct, plain YARP, nginx,
/// SecretlessProxy with OAuth2, SigV4 and Redis — with every generator (the C# driver, wrk, h2load), for about a
/// second each. It asserts only that each served requests without errors, so the harness cannot rot.
/// </summary>
[Collection(nameof(LoadHarnessCollection))]
public sealed partial class LoadHarnessSmokeTests
{
    [Fact]
    public async Task Every_path_of_the_load_test_serves_requests_without_errors()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root.FullName };
        start.ArgumentList.Add("loadtests/run.sh");
        start.ArgumentList.Add("--smoke");
        start.ArgumentList.Add("--db");
        // The suite built everything already; rebuilding now would replace binaries other tests are running.
        start.Environment["LOADKIT_NO_BUILD"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("the smoke load test did not finish in 5 minutes:\n" + await output);
        }
        var text = await output;
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{text}\n{await error}");

        // The closed-loop table lists every path with requests served and no errors.
        var rows = TableRow().Matches(text).Select(m => (Generator: m.Groups[1].Value, Path: m.Groups[2].Value, Rps: double.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture), Errors: long.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        foreach (var path in new[] { "direct", "yarp-http", "yarp-mtls", "nginx-http", "nginx-mtls", "secretless", "secretless-sigv4", "secretless-redis-l1", "secretless-redis-only", "ours-loopback", "nginx-loopback", "ours-unix", "nginx-unix", "ours-mcp", "ours-post" })
        {
            Assert.Contains(rows, r => r.Generator == "loadkit" && r.Path == path && r.Rps > 0 && r.Errors == 0);
        }
        foreach (var path in new[] { "direct", "yarp-http", "nginx-http", "ours-loopback", "nginx-loopback" })
        {
            Assert.Contains(rows, r => r.Generator == "wrk" && r.Path == path && r.Rps > 0 && r.Errors == 0);
        }
        Assert.Contains(rows, r => r.Generator == "h2load" && r.Rps > 0 && r.Errors == 0);
        Assert.Contains(rows, r => r.Generator == "loadkit-h2" && r.Path == "secretless" && r.Rps > 0 && r.Errors == 0);
        Assert.Contains("## Open loop", text, StringComparison.Ordinal);
        Assert.Contains("## MCP path beside the plain path", text, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^\| (loadkit|loadkit-h2|wrk|h2load) \| `([a-z0-9-]+)` \| \d+ \| (\d+) \|.*\| (\d+) \|$", RegexOptions.Multiline)]
    private static partial Regex TableRow();
}
