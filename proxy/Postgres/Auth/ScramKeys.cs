using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.Postgres.Auth;

/// <summary>The SCRAM-SHA-256 key derivation of RFC 5802 §3, shared by the client and the verifier.</summary>
internal static class ScramKeys
{
    /// <summary>The size of every key and signature: a SHA-256 output.</summary>
    public const int Size = SHA256.HashSizeInBytes;

    private const int MaxCached = 256;

    /// <summary>Keys the cache without holding a plain hash of any password (a process-local HMAC key).</summary>
    private static readonly byte[] CacheKeyKey = RandomNumberGenerator.GetBytes(32);

    private static readonly ConcurrentDictionary<string, byte[]> Cache = new(StringComparer.Ordinal);

    /// <summary>
    /// <see cref="Derive"/>, remembered per password, salt and iteration count: a server keeps a role's salt until its
    /// password changes, so every later login of the same role skips the 4096 PBKDF2 iterations (about 2 ms of CPU
    /// each). The cache is keyed by an HMAC of the password under a process-local key and holds at most 256 entries.
    /// </summary>
    public static void DeriveCached(string password, ReadOnlySpan<byte> salt, int iterations, Span<byte> clientKey, Span<byte> serverKey)
    {
        var passwordBytes = Encoding.UTF8.GetBytes(password);
        string key;
        try
        {
            key = Convert.ToHexString(HMACSHA256.HashData(CacheKeyKey, passwordBytes)) + ":" + Convert.ToBase64String(salt) + ":" + iterations.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passwordBytes);
        }
        if (Cache.TryGetValue(key, out var keys))
        {
            keys.AsSpan(0, Size).CopyTo(clientKey);
            keys.AsSpan(Size, Size).CopyTo(serverKey);
            return;
        }
        Derive(password, salt, iterations, clientKey, serverKey);
        if (Cache.Count >= MaxCached)
        {
            Cache.Clear();
        }
        var stored = new byte[2 * Size];
        clientKey.CopyTo(stored);
        serverKey.CopyTo(stored.AsSpan(Size));
        Cache[key] = stored;
    }

    /// <summary>
    /// SaltedPassword = Hi(SASLprep(password), salt, i) (PBKDF2-HMAC-SHA-256); ClientKey = HMAC(SaltedPassword,
    /// "Client Key"); ServerKey = HMAC(SaltedPassword, "Server Key"). The salted password and the password's bytes are
    /// zeroed before returning.
    /// </summary>
    public static void Derive(string password, ReadOnlySpan<byte> salt, int iterations, Span<byte> clientKey, Span<byte> serverKey)
    {
        var prepared = PostgresPassword.SaslPrep(password);
        var bytes = new byte[Encoding.UTF8.GetByteCount(prepared)];
        Span<byte> salted = stackalloc byte[Size];
        try
        {
            Encoding.UTF8.GetBytes(prepared, bytes);
            Rfc2898DeriveBytes.Pbkdf2(bytes, salt, salted, iterations, HashAlgorithmName.SHA256);
            HMACSHA256.HashData(salted, "Client Key"u8, clientKey);
            HMACSHA256.HashData(salted, "Server Key"u8, serverKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
            CryptographicOperations.ZeroMemory(salted);
        }
    }
}
