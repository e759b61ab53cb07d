using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.Stores;

namespace SecretlessProxy.Tests.Credentials;

/// <summary><c>provider: file</c> with <c>{user}</c> in <c>path</c>: one secret per user, named by a subject that must be a safe file name.</summary>
public sealed class PerUserFileProviderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("secretless-users-").FullName;
    private readonly FakeTimeProvider _time = new();

    private (ICredentialProvider? Provider, List<string> Errors) Build(string path)
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["c:path"] = path }).Build().GetSection("c");
        var errors = new List<string>();
        var config = new PluginConfig("api-key", section, _folder, _time, NullLoggerFactory.Instance, (k, m, f) => errors.Add(k + " " + m));
        var factory = new FileProviderFactory();
        factory.Validate(config);
        return (errors.Count == 0 ? factory.Build(config) : null, errors);
    }

    private static CredentialRequest For(string? user) =>
        new("api-key", "r", "spiffe://example.org/agent") { OnBehalfOf = user is null ? null : new ActingUser(user, new SecretValue("token"), null) };

    [Fact]
    public async Task Each_user_reads_their_own_file_and_a_missing_or_unsafe_one_is_refused()
    {
        Directory.CreateDirectory(Path.Combine(_folder, "keys"));
        await File.WriteAllTextAsync(Path.Combine(_folder, "keys", "alice@acme.example.key"), "alice-key\n");
        await File.WriteAllTextAsync(Path.Combine(_folder, "keys", "bob.key"), "bob-key");
        await File.WriteAllTextAsync(Path.Combine(_folder, "secret.key"), "outside");
        var (built, errors) = Build("keys/{user}.key");
        Assert.Empty(errors);
        using var provider = built!;
        Assert.True(provider.ActsOnBehalfOfUsers);
        Assert.True(provider.IsWorkloadBound);

        Assert.Equal("alice-key", (await provider.GetCredentialAsync(For("alice@acme.example"), default)).Secret.Reveal());
        Assert.Equal("bob-key", (await provider.GetCredentialAsync(For("bob"), default)).Secret.Reveal());
        Assert.True((await provider.GetCredentialAsync(For("bob"), default)).IsStatic);

        var missing = await Assert.ThrowsAsync<UserCredentialMissingException>(() => provider.GetCredentialAsync(For("carol"), default).AsTask());
        Assert.Contains("no secret for user 'carol'", missing.Reason, StringComparison.Ordinal);
        foreach (var subject in new[] { "../secret", "..", ".", "", "a/b", "a\\b", ".bob", "-bob", "bob\n", "b%2Fob", "bób", new string('a', 129) })
        {
            var unsafeName = await Assert.ThrowsAsync<UserCredentialMissingException>(() => provider.GetCredentialAsync(For(subject), default).AsTask());
            Assert.Contains("cannot name a secret file", unsafeName.Reason, StringComparison.Ordinal);
        }
        var noUser = await Assert.ThrowsAsync<CredentialUnavailableException>(() => provider.GetCredentialAsync(For(null), default).AsTask());
        Assert.Contains("no validated user token", noUser.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_file_is_read_again()
    {
        await File.WriteAllTextAsync(Path.Combine(_folder, "bob"), "v1");
        using var provider = Build("{user}").Provider!;
        Assert.Equal("v1", (await provider.GetCredentialAsync(For("bob"), default)).Secret.Reveal());
        await File.WriteAllTextAsync(Path.Combine(_folder, "bob"), "version-2");
        File.SetLastWriteTimeUtc(Path.Combine(_folder, "bob"), DateTime.UtcNow.AddMinutes(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal("version-2", (await provider.GetCredentialAsync(For("bob"), default)).Secret.Reveal());
    }

    [Theory]
    [InlineData("keys/{users}.key")]
    [InlineData("keys/{user}/{key}")]
    [InlineData("keys/{user")]
    public void Placeholders_other_than_user_are_refused(string path) =>
        Assert.Contains(Build(path).Errors, e => e.StartsWith("path has a placeholder other than {user}", StringComparison.Ordinal));

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
