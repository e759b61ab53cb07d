using System.Diagnostics;
using SecretlessProxy.Cli;
using SecretlessProxy.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The two packages of <c>scripts/package.sh</c> (built once for this class when missing or older than the sources;
/// <c>scripts/test.sh</c> builds them before the tests): the dotnet tool, installed from <c>artifacts/</c> as the
/// only NuGet source into a temporary tool path, and the self-contained single-file executable. Each answers
/// <c>--help</c> and serves the demo's full path; start-up (process start to the first answer through the proxy) and
/// sizes are printed beside the JIT build's.
/// </summary>
public sealed class PackagingTests(PackagingTests.Packaged packages, ITestOutputHelper output) : IClassFixture<PackagingTests.Packaged>, IDisposable
{
    private readonly TestPki _pki = new();

    [Fact]
    public async Task The_dotnet_tool_installs_from_the_artifacts_folder_and_serves_the_demo()
    {
        var toolPath = Path.Combine(_pki.Directory, "tools");
        // Only the artifacts folder as a source: the install needs nothing from nuget.org.
        var nugetConfig = Path.Combine(_pki.Directory, "nuget.config");
        await File.WriteAllTextAsync(nugetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="artifacts" value="{packages.Folder}" />
              </packageSources>
            </configuration>
            """);
        var install = await ChildProcess.RunAsync("dotnet", ["tool", "install", "secretless-proxy", "--tool-path", toolPath, "--configfile", nugetConfig]);
        Assert.True(install.ExitCode == 0, install.Output + install.Error);
        var tool = Path.Combine(toolPath, "secretless-proxy");

        await AssertHelpAsync(tool);
        var startUp = await DemoCheck.RunAsync(new ProcessStartInfo(tool), Path.Combine(_pki.Directory, "demo-tool"));
        var jit = await JitStartUpAsync();
        output.WriteLine($"dotnet tool: {Mib(new FileInfo(packages.Tool).Length)} package; start-up {startUp.TotalMilliseconds:F0} ms (JIT build through dotnet: {jit.TotalMilliseconds:F0} ms)");
    }

    [Fact]
    public async Task The_single_file_executable_serves_the_demo()
    {
        await AssertHelpAsync(packages.SingleFile);
        var startUp = await DemoCheck.RunAsync(new ProcessStartInfo(packages.SingleFile), Path.Combine(_pki.Directory, "demo-single-file"));
        var jit = await JitStartUpAsync();
        // Nothing beside the executable is needed: it is the only file the package holds.
        Assert.Equal(["secretless-proxy"], Directory.GetFiles(Path.GetDirectoryName(packages.SingleFile)!).Select(Path.GetFileName));
        output.WriteLine($"single-file: {Mib(new FileInfo(packages.SingleFile).Length)}; start-up {startUp.TotalMilliseconds:F0} ms (JIT build through dotnet: {jit.TotalMilliseconds:F0} ms)");
    }

    private static async Task AssertHelpAsync(string executable)
    {
        var help = await ChildProcess.RunAsync(executable, ["--help"]);
        Assert.True(help.ExitCode == 0, help.Output + help.Error);
        Assert.Contains("demo", help.Output, StringComparison.Ordinal);
        Assert.Contains("validate", help.Output, StringComparison.Ordinal);
    }

    /// <summary>The baseline, measured in the same run: the JIT build the tests use, started through <c>dotnet</c>.</summary>
    private async Task<TimeSpan> JitStartUpAsync()
    {
        var start = new ProcessStartInfo("dotnet");
        start.ArgumentList.Add(typeof(CliApp).Assembly.Location);
        return await DemoCheck.RunAsync(start, Path.Combine(_pki.Directory, "demo-jit"));
    }

    private static string Mib(long bytes) => $"{bytes / 1048576.0:F1} MiB";

    public void Dispose() => _pki.Dispose();

    /// <summary>The packages in <c>artifacts/</c>; runs <c>scripts/package.sh</c> when either is missing or older than any source file.</summary>
    public sealed class Packaged
    {
        public string Folder { get; } = Path.Combine(SidecarBuildTests.Published.Repository, "artifacts");

        public string SingleFile => Path.Combine(Folder, "single-file", "secretless-proxy");

        public string Tool => Directory.EnumerateFiles(Folder, "secretless-proxy.*.nupkg").Single();

        public Packaged()
        {
            if (IsCurrent())
            {
                return;
            }
            var (exit, output, error) = ChildProcess.RunAsync("bash", [Path.Combine(SidecarBuildTests.Published.Repository, "scripts", "package.sh")]).GetAwaiter().GetResult();
            if (exit != 0 || !IsCurrent())
            {
                throw new InvalidOperationException($"scripts/package.sh failed ({exit}): {output}{error}");
            }
        }

        private bool IsCurrent()
        {
            var built = new[] { SingleFile }.Concat(Directory.Exists(Folder) ? Directory.EnumerateFiles(Folder, "secretless-proxy.*.nupkg") : []).ToList();
            return built.Count == 2 && built.All(File.Exists) && built.Min(File.GetLastWriteTimeUtc) > SidecarBuildTests.Published.NewestSource();
        }
    }
}
