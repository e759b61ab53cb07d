using System.Diagnostics;
using SecretlessProxy.Cli;
using SecretlessProxy.IntegrationTests.Infrastructure;
using SecretlessProxy.Testing;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The sidecar build (Native AOT, <c>scripts/publish-sidecar.sh</c>), published once for this class when it is missing
/// or older than the sources. The build reads its config by reflection over assemblies kept whole, so these tests
/// hold it to the JIT build: the same verdict and the same errors for every example config and for a bad one, and
/// the demo's full path (mTLS and Unix-socket callers, injection, masking, a refusal) served the same way.
/// </summary>
public sealed class SidecarBuildTests(SidecarBuildTests.Published build) : IClassFixture<SidecarBuildTests.Published>, IDisposable
{
    private readonly TestPki _pki = new();

    [Fact]
    public async Task The_sidecar_build_serves_the_demo_full_path()
    {
        await DemoCheck.RunAsync(new ProcessStartInfo(build.Executable), Path.Combine(_pki.Directory, "demo-aot"));
    }

    /// <summary>Every example under <c>config/</c>.</summary>
    public static TheoryData<string> Examples() => [.. Directory.EnumerateFiles(Path.Combine(Published.Repository, "config"), "*.yaml").Select(f => Path.GetFileName(f)!).Order()];

    [Theory]
    [MemberData(nameof(Examples))]
    public async Task The_sidecar_build_validates_each_example_exactly_as_the_jit_build(string name)
    {
        var dir = Path.Combine(_pki.Directory, "examples-" + Path.GetFileNameWithoutExtension(name));
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Published.Repository, "config", name), Path.Combine(dir, name));
        var certs = Path.Combine(dir, "certs");
        Assert.Equal(0, (await CliApp.RunAsync(["dev-ca", "init", "--out", certs], TextWriter.Null, TextWriter.Null)));
        Assert.Equal(0, (await CliApp.RunAsync(["dev-ca", "server", "--ca", certs, "--out", certs], TextWriter.Null, TextWriter.Null)));
        ExampleWalkthrough.WriteFiles(certs);
        var aot = await ChildProcess.RunAsync(build.Executable, ["validate", "--config", Path.Combine(dir, name)]);
        // Whether each example is valid is CliTests' question; this one is whether the two builds agree on it.
        Assert.Equal(await JitValidateAsync(Path.Combine(dir, name)), (aot.ExitCode, aot.Output.Trim(), aot.Error.Trim()));
    }

    [Fact]
    public async Task The_sidecar_build_reports_a_bad_configs_errors_exactly_as_the_jit_build()
    {
        var bad = Path.Combine(_pki.Directory, "bad.yaml");
        await File.WriteAllTextAsync(bad, ProxyUnderTest.DefaultConfig(new Uri("http://127.0.0.1:1/"))
            .Replace("provider: file", "provider: filee", StringComparison.Ordinal)
            .Replace("routes: [allowed]", "routes: [alowed]", StringComparison.Ordinal)
            .Replace("ClusterId:", "ClusterIdd:", StringComparison.Ordinal));
        var aot = await ChildProcess.RunAsync(build.Executable, ["validate", "--config", bad]);
        Assert.Equal(1, aot.ExitCode);
        Assert.Contains("names route 'alowed'", aot.Error, StringComparison.Ordinal);
        Assert.Equal(await JitValidateAsync(bad), (aot.ExitCode, aot.Output.Trim(), aot.Error.Trim()));
    }

    private static async Task<(int, string, string)> JitValidateAsync(string config)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliApp.RunAsync(["validate", "--config", config], output, error);
        return (exit, output.ToString().Trim(), error.ToString().Trim());
    }

    public void Dispose() => _pki.Dispose();

    /// <summary>The published sidecar executable; publishes it (a few minutes) when missing or older than any source file.</summary>
    public sealed class Published
    {
        public static string Repository { get; } = FindRepository();

        public string Executable { get; } = Path.Combine(Repository, "proxy", "bin", "sidecar-aot", "secretless-proxy");

        public Published()
        {
            if (File.Exists(Executable) && File.GetLastWriteTimeUtc(Executable) > NewestSource())
            {
                return;
            }
            var (exit, output, error) = ChildProcess.RunAsync("bash", [Path.Combine(Repository, "scripts", "publish-sidecar.sh")]).GetAwaiter().GetResult();
            if (exit != 0 || !File.Exists(Executable))
            {
                throw new InvalidOperationException($"scripts/publish-sidecar.sh failed ({exit}): {output}{error}");
            }
        }

        /// <summary>The last write of any source file of the proxy and its plugins.</summary>
        public static DateTime NewestSource() => new[] { "proxy", "plugins" }
            .SelectMany(d => Directory.EnumerateFiles(Path.Combine(Repository, d), "*", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/bin/", StringComparison.Ordinal) && !f.Contains("/obj/", StringComparison.Ordinal))
            .Append(Path.Combine(Repository, "Directory.Build.props"))
            .Max(File.GetLastWriteTimeUtc);

        private static string FindRepository()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (!File.Exists(Path.Combine(dir!.FullName, "SecretlessProxy.sln")))
            {
                dir = dir.Parent;
            }
            return dir.FullName;
        }
    }
}
