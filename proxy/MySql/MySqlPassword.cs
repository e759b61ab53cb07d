using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.MySql;

/// <summary>
/// The client side of MySQL's password plugins: <c>mysql_native_password</c> (SHA-1 challenge-response),
/// <c>caching_sha2_password</c> (the SHA-256 scramble of its fast path; for full authentication the password in clear
/// over TLS, or RSA-OAEP encrypted with the server's public key, XORed with the scramble first), and the
/// <c>mysql_native_password</c> hash a dynamic user is created with (so the plaintext is never in a statement).
/// </summary>
// Deliberate: SHA-1 is mysql_native_password's own algorithm, and RSA-OAEP with SHA-1 is what caching_sha2_password
// specifies; the server chooses the plugin, and the database's auth floor can require caching_sha2_password.
#pragma warning disable CA5350
internal static class MySqlPassword
{
    /// <summary>SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))); empty for an empty password.</summary>
    public static byte[] NativeScramble(string password, ReadOnlySpan<byte> scramble)
    {
        if (password.Length == 0)
        {
            return [];
        }
        var stage1 = SHA1.HashData(Encoding.UTF8.GetBytes(password));
        var stage2 = SHA1.HashData(stage1);
        var input = new byte[scramble.Length + stage2.Length];
        scramble.CopyTo(input);
        stage2.CopyTo(input, scramble.Length);
        var mask = SHA1.HashData(input);
        for (var i = 0; i < stage1.Length; i++)
        {
            stage1[i] ^= mask[i];
        }
        return stage1;
    }

    /// <summary>SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble); empty for an empty password.</summary>
    public static byte[] CachingSha2Scramble(string password, ReadOnlySpan<byte> scramble)
    {
        if (password.Length == 0)
        {
            return [];
        }
        var stage1 = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        var stage2 = SHA256.HashData(stage1);
        var input = new byte[stage2.Length + scramble.Length];
        stage2.CopyTo(input, 0);
        scramble.CopyTo(input.AsSpan(stage2.Length));
        var mask = SHA256.HashData(input);
        for (var i = 0; i < stage1.Length; i++)
        {
            stage1[i] ^= mask[i];
        }
        return stage1;
    }

    /// <summary>The password NUL-terminated, XORed with the scramble, RSA-OAEP (SHA-1) encrypted with the server's public key (PEM).</summary>
    public static byte[] RsaEncrypt(string password, ReadOnlySpan<byte> scramble, string publicKeyPem)
    {
        var plain = Encoding.UTF8.GetBytes(password + "\0");
        if (scramble.Length == 0)
        {
            throw new CryptographicException("no scramble to mix the password with");
        }
        for (var i = 0; i < plain.Length; i++)
        {
            plain[i] ^= scramble[i % scramble.Length];
        }
        using var rsa = RSA.Create();
        rsa.ImportFromPem(publicKeyPem);
        try
        {
            return rsa.Encrypt(plain, RSAEncryptionPadding.OaepSHA1);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    /// <summary>The <c>mysql_native_password</c> hash, <c>*</c> and 40 upper-case hex digits (<c>IDENTIFIED BY PASSWORD '…'</c>).</summary>
    public static string NativeHash(string password) =>
        "*" + Convert.ToHexString(SHA1.HashData(SHA1.HashData(Encoding.UTF8.GetBytes(password))));
}
#pragma warning restore CA5350
