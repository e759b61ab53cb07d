using System.Diagnostics;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A real redis-server (Debian's package) on a free loopback port, with no persistence and uncompressed dumps
/// (so a test scanning a dump for plaintext cannot be fooled by compression). Can be stopped and started again
/// on the same port.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory;
    private Process? _process;

    private RedisServer(int port, string directory)
    {
        Port = port;
        _directory = directory;
    }

    public int Port { get; }

    public string Configuration => $"127.0.0.1:{Port}";

    public static async Task<RedisServer> StartAsync(string workDir)
    {
        Assert.True(File.Exists("/usr/bin/redis-server"), "redis-server is not installed: run 'bash scripts/test.sh' (it installs Debian's redis-server)");
        var port = LoopbackPorts.Next();
        var directory = Path.Combine(workDir, $"redis-{port}");
        Directory.CreateDirectory(directory);
        var server = new RedisServer(port, directory);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again) on its port and waits until it answers PING.</summary>
    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo("redis-server") { WorkingDirectory = _directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--rdbcompression", "no", "--dir", _directory, "--daemonize", "no" })
        {
            start.ArgumentList.Add(arg);
        }
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.Until(async () => (await CliAsync("PING")).Trim() == "PONG", $"redis-server answers PING on port {Port}");
    }

    /// <summary>Kills the server at once (no shutdown save), as a crash would.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>Runs redis-cli against this server and returns its output.</summary>
    public async Task<string> CliAsync(params string[] args)
    {
        var (_, output, error) = await ChildProcess.RunAsync("redis-cli", ["-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. args]);
        return output + error;
    }

    /// <summary>Dumps the whole dataset with <c>redis-cli --rdb</c> and returns the file's bytes.</summary>
    public async Task<byte[]> DumpAsync()
    {
        var file = Path.Combine(_directory, $"dump-{Guid.NewGuid():N}.rdb");
        var output = await CliAsync("--rdb", file);
        Assert.True(File.Exists(file), "redis-cli --rdb failed: " + output);
        return await File.ReadAllBytesAsync(file);
    }

    public async ValueTask DisposeAsync() => await KillAsync();
}
