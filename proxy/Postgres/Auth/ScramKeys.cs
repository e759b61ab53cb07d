using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.Postgres.Auth;

/// <summary>The SCRAM-SHA-256 key derivation of RFC 5802 §3, shared by the client and the verifier.</summary>
internal static class ScramKeys
{
    /// <summary>The size of every key and signature: a SHA-256 output.</summary>
    public const int Size = SHA256.HashSizeInBytes;

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
