using System.Security.Cryptography;
using System.Text;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Credentials.Redis;
using SecretlessProxy.Redis;

namespace SecretlessProxy.Tests.Credentials;

public sealed class CacheKeyRingTests
{
    private static readonly byte[] KeyA = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] KeyB = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public void Sealed_value_opens_and_holds_no_plaintext()
    {
        var ring = new CacheKeyRing([KeyA]);
        var secret = "canary-token-4c1e7b"u8.ToArray();
        var sealedValue = ring.Seal(secret, "secretless:{github}:abc:shared");
        Assert.DoesNotContain("canary", sealedValue, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(secret), sealedValue, StringComparison.Ordinal);
        Assert.StartsWith("v1." + CacheKeyRing.IdOf(KeyA) + ".", sealedValue, StringComparison.Ordinal);
        Assert.Equal(secret, ring.Open(sealedValue, "secretless:{github}:abc:shared"));
        // Random nonce: sealing twice gives two different values.
        Assert.NotEqual(sealedValue, ring.Seal(secret, "secretless:{github}:abc:shared"));
    }

    [Fact]
    public void Tampered_moved_or_foreign_values_do_not_open()
    {
        var ring = new CacheKeyRing([KeyA]);
        var sealedValue = ring.Seal("token"u8, "k1");
        Assert.Null(ring.Open(sealedValue, "k2"));
        var parts = sealedValue.Split('.');
        var bytes = Convert.FromBase64String(parts[2]);
        bytes[^1] ^= 1;
        Assert.Null(ring.Open($"{parts[0]}.{parts[1]}.{Convert.ToBase64String(bytes)}", "k1"));
        Assert.Null(new CacheKeyRing([KeyB]).Open(sealedValue, "k1"));
        Assert.Null(ring.Open("plaintext-token", "k1"));
        Assert.Null(ring.Open("v1.x.!!!", "k1"));
        Assert.Null(ring.Open($"v1.{CacheKeyRing.IdOf(KeyA)}.AAAA", "k1"));
    }

    [Fact]
    public void Rotation_seals_with_the_new_key_and_still_opens_the_old()
    {
        var old = new CacheKeyRing([KeyA]).Seal("token"u8, "k");
        var rotated = new CacheKeyRing([KeyB, KeyA]);
        Assert.Equal("token"u8.ToArray(), rotated.Open(old, "k"));
        Assert.Contains("." + CacheKeyRing.IdOf(KeyB) + ".", rotated.Seal("token"u8, "k"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("base64")]
    [InlineData("hex")]
    public void Key_files_are_base64_or_hex(string format)
    {
        var text = format == "hex" ? Convert.ToHexString(KeyA) : Convert.ToBase64String(KeyA) + "\n";
        Assert.Equal(KeyA, CacheKeyRing.ParseKeyFile(text, out var problem));
        Assert.Null(problem);
        Assert.Null(CacheKeyRing.ParseKeyFile(Convert.ToBase64String(KeyA[..16]), out problem));
        Assert.NotNull(problem);
        Assert.Null(CacheKeyRing.ParseKeyFile("password123", out _));
    }

    [Fact]
    public void Shared_entry_round_trips_and_its_text_form_redacts()
    {
        var issued = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        var credential = new Credential("db", new SecretValue("canary-pw-91d2")) { Username = "app", ExpiresAt = issued.AddMinutes(5) };
        var entry = new SharedEntry(credential, issued, issued.AddMinutes(5));
        var read = SharedEntry.Read(entry.Write(), "db");
        Assert.NotNull(read);
        Assert.Equal("canary-pw-91d2", read.Credential.Secret.Reveal());
        Assert.Equal("app", read.Credential.Username);
        Assert.Equal(issued, read.IssuedAt);
        Assert.Equal(issued.AddMinutes(5), read.ExpiresAt);
        Assert.DoesNotContain("canary", read.ToString(), StringComparison.Ordinal);
        Assert.Null(SharedEntry.Read(Encoding.UTF8.GetBytes("{\"secret\":1}"), "db"));
        Assert.Null(SharedEntry.Read(Encoding.UTF8.GetBytes("not json"), "db"));
    }
}
