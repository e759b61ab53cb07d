using System.Security.Cryptography;

namespace SecretlessProxy.Redis;

/// <summary>
/// AES-256-GCM keys for values kept in Redis: the first seals, all may open (so a key can be rotated while
/// values sealed with the old one still live). A key is named by an id derived from it (the first 8 bytes of
/// its SHA-256, hex), which is stored beside each value and reveals nothing about the key.
/// </summary>
public sealed class CacheKeyRing
{
    public const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const string Version = "v1";

    private readonly (string Id, byte[] Key)[] _keys;

    public CacheKeyRing(IReadOnlyList<byte[]> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Count == 0 || keys.Any(k => k.Length != KeySize))
        {
            throw new ArgumentException($"every cache key must be {KeySize} bytes", nameof(keys));
        }
        _keys = keys.Select(k => (IdOf(k), k.ToArray())).ToArray();
    }

    /// <summary>The id of the key that seals new values.</summary>
    public string CurrentKeyId => _keys[0].Id;

    public static string IdOf(byte[] key) => Convert.ToHexStringLower(SHA256.HashData(key).AsSpan(0, 8));

    /// <summary>
    /// Reads a key file: 32 random bytes written as base64 (<c>openssl rand -base64 32</c>) or hex. Returns null
    /// and a reason when the file holds something else.
    /// </summary>
    public static byte[]? ParseKeyFile(string text, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        byte[]? key = null;
        if (trimmed.Length == KeySize * 2 && trimmed.All(Uri.IsHexDigit))
        {
            key = Convert.FromHexString(trimmed);
        }
        else
        {
            var buffer = new byte[KeySize + 3];
            if (Convert.TryFromBase64String(trimmed, buffer, out var written) && written == KeySize)
            {
                key = buffer[..KeySize];
            }
        }
        problem = key is null ? $"does not hold a {KeySize}-byte key in base64 or hex" : null;
        return key;
    }

    /// <summary>Seals <paramref name="plaintext"/>, bound to <paramref name="context"/> (the Redis key) so a value cannot be moved to another key.</summary>
    public string Seal(ReadOnlySpan<byte> plaintext, string context)
    {
        var (id, key) = _keys[0];
        var sealedBytes = new byte[NonceSize + TagSize + plaintext.Length];
        var nonce = sealedBytes.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(key, TagSize))
        {
            aes.Encrypt(nonce, plaintext, sealedBytes.AsSpan(NonceSize + TagSize), sealedBytes.AsSpan(NonceSize, TagSize), System.Text.Encoding.UTF8.GetBytes(context));
        }
        return $"{Version}.{id}.{Convert.ToBase64String(sealedBytes)}";
    }

    /// <summary>Opens a sealed value; null when it is malformed, tampered with, bound to another key or sealed with an unknown key.</summary>
    public byte[]? Open(string value, string context)
    {
        ArgumentNullException.ThrowIfNull(value);
        var parts = value.Split('.');
        if (parts.Length != 3 || parts[0] != Version)
        {
            return null;
        }
        var key = Array.Find(_keys, k => k.Id == parts[1]).Key;
        if (key is null)
        {
            return null;
        }
        byte[] sealedBytes;
        try
        {
            sealedBytes = Convert.FromBase64String(parts[2]);
        }
        catch (FormatException)
        {
            return null;
        }
        if (sealedBytes.Length < NonceSize + TagSize)
        {
            return null;
        }
        var plaintext = new byte[sealedBytes.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceSize), sealedBytes.AsSpan(NonceSize + TagSize), sealedBytes.AsSpan(NonceSize, TagSize), plaintext, System.Text.Encoding.UTF8.GetBytes(context));
            return plaintext;
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }
}
