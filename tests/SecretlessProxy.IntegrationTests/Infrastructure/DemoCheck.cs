using System.Diagnostics;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// Runs <c>secretless-proxy demo</c> (the JIT build through <c>dotnet</c>, or the sidecar build's executable) and pastes
/// the three curl commands it prints, as a newcomer would: the injected header reaches the echo upstream (masked on
/// the way back), over mTLS and over the Unix socket, and the admin-api route is refused by its rule.
/// </summary>
public static class DemoCheck
{
    /// <param name="start">The program to run, with any leading arguments (the dll for <c>dotnet</c>); <c>demo</c> and its options are added.</param>
    /// <param name="dir">A new folder for the demo's files.</param>
    /// <returns>The start-up time: from starting the process to the first answer through the proxy.</returns>
    public static async Task<TimeSpan> RunAsync(ProcessStartInfo start, string dir)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        foreach (var arg in new[] { "demo", "--port", "0", "--admin-port", "0", "--dir", dir })
        {
            start.ArgumentList.Add(arg);
        }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        try
        {
            _ = process.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (lines.Count(l => l.StartsWith("curl ", StringComparison.Ordinal)) < 3)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("demo exited: " + string.Join("\n", lines));
                lines.Add(line);
            }
            var curls = lines.Where(l => l.StartsWith("curl ", StringComparison.Ordinal)).ToList();
            var allowed = await Shell(curls[0] + " -sS -i");
            var startUp = clock.Elapsed;
            Assert.Contains("200", allowed.Split('\n')[0], StringComparison.Ordinal);
            // The echo upstream reflects the injected header; the proxy masks its own credential on the way back.
            Assert.Matches(@"authorization: Bearer \*{29}\r?\n", allowed);
            var token = (await File.ReadAllTextAsync(Path.Combine(dir, "echo-token.txt"))).Trim();
            Assert.DoesNotContain(token, allowed, StringComparison.Ordinal);
            var local = await Shell(curls[1] + " -sS -i");
            Assert.Contains("200", local.Split('\n')[0], StringComparison.Ordinal);
            Assert.Matches(@"authorization: Bearer \*{29}\r?\n", local);
            var denied = await Shell(curls[2] + " -sS -i");
            Assert.Contains("403", denied.Split('\n')[0], StringComparison.Ordinal);
            Assert.Contains("\"rule\":\"nobody-uses-admin-api\"", denied, StringComparison.Ordinal);
            return startUp;
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    public static async Task<string> Shell(string command)
    {
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(command);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        output += await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }
}
