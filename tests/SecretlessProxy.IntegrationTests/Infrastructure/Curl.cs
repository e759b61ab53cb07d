using System.Diagnostics;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>Runs the real curl binary (a client the proxy did not write) and returns status line, headers and body.</summary>
public static class Curl
{
    public sealed record Result(int ExitCode, int Status, string Body, string StdErr);

    public static Task<Result> RunAsync(params string[] args) => RunWithAsync(["curl"], args);

    /// <summary>
    /// Runs curl through <paramref name="command"/>: its first element is the program (curl, a copy of it, or a
    /// launcher such as setpriv whose last arguments are a curl to run), then the rest and the curl arguments.
    /// </summary>
    public static async Task<Result> RunWithAsync(IReadOnlyList<string> command, params string[] args)
    {
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in command.Skip(1).Concat(["-sS", "--max-time", "20", "-w", "\n%{http_code}"]).Concat(args))
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = await process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var cut = stdout.LastIndexOf('\n');
        var status = int.TryParse(stdout[(cut + 1)..], out var code) ? code : 0;
        return new Result(process.ExitCode, status, cut < 0 ? "" : stdout[..cut], stderr);
    }

    /// <summary>curl arguments presenting <paramref name="cert"/>/<paramref name="key"/> and trusting the test server CA.</summary>
    public static string[] Mtls(TestPki pki, (string Cert, string Key) identity) =>
        ["--cacert", pki.ServerCaPath, "--cert", identity.Cert, "--key", identity.Key];
}
