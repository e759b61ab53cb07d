using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Tests.Credentials;

/// <summary>The version tracking the store providers (Secrets Manager, Key Vault, Secret Manager) share.</summary>
public sealed class StoreSecretVersionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_same_version_keeps_its_value_a_new_version_is_a_rotation_from_the_old_one()
    {
        var versions = new StoreSecretVersions();
        var (first, rotated) = versions.Serve("billing", "1", "canary-one", Now.AddMinutes(5), Now.AddDays(-3));
        Assert.Null(rotated);
        Assert.True(first.IsStatic);
        Assert.Equal("1", first.Version);
        Assert.Equal(Now.AddDays(-3), first.VersionCreatedAt);
        Assert.Equal(Now.AddMinutes(5), first.ExpiresAt);
        Assert.Equal("canary-one", first.Secret.Reveal());

        var (again, notRotated) = versions.Serve("billing", "1", "canary-one", Now.AddMinutes(10));
        Assert.Null(notRotated);
        Assert.Same(first.Secret, again.Secret);

        var (second, from) = versions.Serve("billing", "2", "canary-two", Now.AddMinutes(15));
        Assert.Equal("1", from);
        Assert.Equal("canary-two", second.Secret.Reveal());
        Assert.NotSame(first.Secret, second.Secret);

        // A store that names no version: no version on the credential, and no rotation to report.
        var unnamed = new StoreSecretVersions();
        var (plain, _) = unnamed.Serve("billing", "", "canary-one", Now);
        Assert.Null(plain.Version);
        Assert.Null(unnamed.Serve("billing", "", "canary-changed", Now).RotatedFrom);
    }
}
