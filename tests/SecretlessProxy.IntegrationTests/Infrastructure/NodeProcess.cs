using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A Node test server or client from one of the test project's npm folders (aws, kubernetes, …): the server is
/// started, its "listening …" line awaited and every other line kept for assertions and failure messages; a client
/// script runs to its end and its one-line JSON result is returned. Servers are killed with their process tree.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private NodeProcess(Process process) => _process = process;

    /// <summary>The "listening …" line the server printed when ready (without the prefix).</summary>
    public string Listening { get; private set; } = "";

    /// <summary>Every line the server printed except the ready line (stderr lines prefixed with "stderr ").</summary>
    public IEnumerable<string> Lines => _lines;

    public string Output => string.Join("\n", _lines);

    /// <summary>tests/SecretlessProxy.IntegrationTests/<paramref name="folder"/> in the source tree.</summary>
    public static string Folder(string folder)
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "SecretlessProxy.sln")))
        {
            root = root.Parent;
        }
        return Path.Combine(root.FullName, "tests", "SecretlessProxy.IntegrationTests", folder);
    }

    /// <summary>Fails with the command that installs it when <paramref name="package"/> is missing from the folder.</summary>
    public static string RequirePackage(string folder, string package)
    {
        var dir = Folder(folder);
        Assert.True(Directory.Exists(Path.Combine([dir, "node_modules", .. package.Split('/')])),
            $"{package} is not installed in {dir}: run 'bash scripts/test.sh' (it runs npm ci there)");
        return dir;
    }

    /// <summary>Starts <c>node SCRIPT ARGS…</c> in the folder and waits (30 s at most) for its "listening " line.</summary>
    public static async Task<NodeProcess> StartServerAsync(string folder, string script, params string[] arguments)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = Folder(folder), RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start)!;
        var server = new NodeProcess(process);
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            if (e.Data.StartsWith("listening ", StringComparison.Ordinal))
            {
                ready.TrySetResult(e.Data["listening ".Length..]);
            }
            else
            {
                server._lines.Enqueue(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                server._lines.Enqueue("stderr " + e.Data);
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"node {script} exited before listening:\n{server.Output}"));
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            server.Listening = await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
        return server;
    }

    /// <summary>The ready line's <c>name=value</c> pairs (e.g. "sts=4000 s3=4001").</summary>
    public IReadOnlyDictionary<string, string> ListeningPairs =>
        Listening.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");

    /// <summary>Runs <c>node --no-warnings SCRIPT ARGS…</c> in the folder to its end (60 s at most); returns the JSON it printed.</summary>
    public static Task<JsonElement> RunClientAsync(string folder, string what, string script, params string[] arguments) =>
        RunClientAsync(folder, what, script, arguments, environment: null);

    /// <summary>As above, with environment variables for the client (NODE_EXTRA_CA_CERTS, proxy variables).</summary>
    public static async Task<JsonElement> RunClientAsync(string folder, string what, string script, string[] arguments, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = Folder(folder), RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        start.ArgumentList.Add("--no-warnings");
        start.ArgumentList.Add(script);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var text = (await output).Trim();
        Assert.True(text.StartsWith('{'), $"{what} printed no result: {text}\n{await errors}");
        return JsonDocument.Parse(text).RootElement;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }
}
