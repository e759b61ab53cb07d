using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.Stores;

namespace SecretlessProxy.Tests.Credentials;

/// <summary>A Kubernetes-style mounted secret, updated the way the kubelet does it: a new timestamped folder and an atomic swap of the '..data' symlink.</summary>
public sealed class SecretDirProviderTests : IDisposable
{
    private readonly string _mount = Directory.CreateTempSubdirectory("secretless-mount-").FullName;
    private readonly FakeTimeProvider _time = new();

    private void Publish(string version, string token)
    {
        var folder = Path.Combine(_mount, version);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "token"), token);
        var temp = Path.Combine(_mount, "..data_tmp");
        File.CreateSymbolicLink(temp, version);
        // rename(2) over the old link, as the kubelet does (File.Move refuses links to folders).
        using (var mv = System.Diagnostics.Process.Start("mv", ["-T", "-f", temp, Path.Combine(_mount, "..data")]))
        {
            mv.WaitForExit();
            Assert.Equal(0, mv.ExitCode);
        }
        if (!File.Exists(Path.Combine(_mount, "token")))
        {
            File.CreateSymbolicLink(Path.Combine(_mount, "token"), Path.Combine("..data", "token"));
        }
    }

    private ICredentialProvider Build()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["c:path"] = _mount,
            ["c:pollInterval"] = "00:00:01",
        }).Build().GetSection("c");
        var errors = new List<string>();
        var config = new PluginConfig("mounted", section, "/", _time, NullLoggerFactory.Instance, (k, m, f) => errors.Add(k + m));
        var factory = new SecretDirProviderFactory();
        factory.Validate(config);
        Assert.Empty(errors);
        return factory.Build(config);
    }

    [Fact]
    public async Task Follows_the_kubelet_symlink_swap()
    {
        Publish("..2026_11_23_01", "token-v1");
        using var provider = Build();
        var request = new CredentialRequest("mounted", "r", null);
        var first = await provider.GetCredentialAsync(request, default);
        Assert.Equal("token-v1", first.Secret.Reveal());
        Assert.Same(first, await provider.GetCredentialAsync(request, default));

        Publish("..2026_11_23_02", "token-v2");
        // The same size and, as when both are written within one tick of the file system's clock, the same time:
        // only the swapped '..data' link tells the versions apart.
        File.SetLastWriteTimeUtc(Path.Combine(_mount, "..2026_11_23_02", "token"), File.GetLastWriteTimeUtc(Path.Combine(_mount, "..2026_11_23_01", "token")));
        Assert.Equal("token-v1", (await provider.GetCredentialAsync(request, default)).Secret.Reveal());
        _time.Advance(TimeSpan.FromSeconds(1));
        // Seen, but read only after it has held still for one more interval.
        Assert.Equal("token-v1", (await provider.GetCredentialAsync(request, default)).Secret.Reveal());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("token-v2", (await provider.GetCredentialAsync(request, default)).Secret.Reveal());
    }

    [Fact]
    public async Task Missing_key_is_unavailable_with_a_reason_naming_the_file()
    {
        Directory.CreateDirectory(_mount);
        using var provider = Build();
        var ex = await Assert.ThrowsAsync<CredentialUnavailableException>(async () => await provider.GetCredentialAsync(new CredentialRequest("mounted", "r", null), default));
        Assert.Equal("mounted", ex.CredentialName);
        Assert.Contains("token", ex.Reason, StringComparison.Ordinal);
        Assert.Contains("does not exist", ex.Reason, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_mount, recursive: true);
}
