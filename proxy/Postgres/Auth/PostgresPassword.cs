using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.Postgres.Auth;

/// <summary>
/// PostgreSQL's password forms apart from the SCRAM exchange itself: the MD5 challenge response, the SCRAM-SHA-256
/// verifier PostgreSQL keeps in <c>pg_authid</c>, and SASLprep as PostgreSQL applies it to a password.
/// </summary>
public static class PostgresPassword
{
    /// <summary>The salt length PostgreSQL uses for the verifiers it makes itself.</summary>
    public const int DefaultSaltLength = 16;

    /// <summary>
    /// The answer to AuthenticationMD5Password: <c>"md5" + hex(md5(hex(md5(password + user)) + salt))</c>, lowercase hex,
    /// as 35 ASCII bytes WITHOUT the terminating NUL (the PasswordMessage carries it as a C string; its framing adds the
    /// NUL). <paramref name="user"/> is the role name sent in the startup message; the password is used as is (PostgreSQL
    /// applies no SASLprep to MD5), in UTF-8.
    /// </summary>
    /// <exception cref="ArgumentException">The salt is not 4 bytes, or the password holds a NUL.</exception>
    public static byte[] Md5Response(string user, string password, ReadOnlySpan<byte> salt4)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        RefuseNul(password);
        if (salt4.Length != 4)
        {
            throw new ArgumentException("the MD5 salt is 4 bytes", nameof(salt4));
        }
        var secret = new byte[Encoding.UTF8.GetByteCount(password) + Encoding.UTF8.GetByteCount(user)];
        Span<byte> digest = stackalloc byte[MD5.HashSizeInBytes];
        Span<byte> inner = stackalloc byte[(2 * MD5.HashSizeInBytes) + 4];
        try
        {
            var written = Encoding.UTF8.GetBytes(password, secret);
            Encoding.UTF8.GetBytes(user, secret.AsSpan(written));
#pragma warning disable CA5351 // Deliberate: this is PostgreSQL's md5 method; the server chose it, and SCRAM is preferred when offered.
            MD5.HashData(secret, digest);
            WriteHex(digest, inner);
            salt4.CopyTo(inner[(2 * MD5.HashSizeInBytes)..]);
            MD5.HashData(inner, digest);
#pragma warning restore CA5351
            var response = new byte[3 + (2 * MD5.HashSizeInBytes)];
            "md5"u8.CopyTo(response);
            WriteHex(digest, response.AsSpan(3));
            return response;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
            CryptographicOperations.ZeroMemory(digest);
            CryptographicOperations.ZeroMemory(inner);
        }
    }

    /// <summary>
    /// The SCRAM-SHA-256 verifier PostgreSQL stores in <c>pg_authid.rolpassword</c>:
    /// <c>SCRAM-SHA-256$&lt;iterations&gt;:&lt;base64 salt&gt;$&lt;base64 StoredKey&gt;:&lt;base64 ServerKey&gt;</c>. Given as the
    /// password of <c>CREATE ROLE … PASSWORD '…'</c> or <c>ALTER ROLE</c>, PostgreSQL keeps it as it is, so the plaintext
    /// never reaches the server. The password goes through <see cref="SaslPrep"/> first, as PostgreSQL does.
    /// </summary>
    /// <param name="password">The plaintext password.</param>
    /// <param name="iterations">The PBKDF2 iteration count, within what <see cref="ScramSha256Client"/> accepts
    /// (<see cref="ScramSha256Client.MinIterations"/> to <see cref="ScramSha256Client.MaxIterations"/>).</param>
    /// <param name="salt">The salt; null for <see cref="DefaultSaltLength"/> random bytes.</param>
    public static string ScramVerifier(string password, int iterations = ScramSha256Client.MinIterations, byte[]? salt = null)
    {
        ArgumentNullException.ThrowIfNull(password);
        RefuseNul(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, ScramSha256Client.MinIterations);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(iterations, ScramSha256Client.MaxIterations);
        if (salt is { Length: 0 })
        {
            throw new ArgumentException("the salt must not be empty", nameof(salt));
        }
        salt ??= RandomNumberGenerator.GetBytes(DefaultSaltLength);
        Span<byte> clientKey = stackalloc byte[ScramKeys.Size];
        Span<byte> storedKey = stackalloc byte[ScramKeys.Size];
        Span<byte> serverKey = stackalloc byte[ScramKeys.Size];
        try
        {
            ScramKeys.Derive(password, salt, iterations, clientKey, serverKey);
            SHA256.HashData(clientKey, storedKey);
            return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(clientKey);
            CryptographicOperations.ZeroMemory(storedKey);
            CryptographicOperations.ZeroMemory(serverKey);
        }
    }

    /// <summary>
    /// SASLprep (RFC 4013) exactly as PostgreSQL's <c>pg_saslprep</c> applies it to a password, in the server (for a
    /// verifier made from a plaintext password) and in libpq (when logging in), so that both sides derive the same keys:
    /// <list type="bullet">
    /// <item>a pure ASCII password is returned unchanged (even one with control characters);</item>
    /// <item>otherwise non-ASCII spaces (RFC 3454 C.1.2) become U+0020, the characters of B.1 are removed, and the
    /// result is normalized to NFKC;</item>
    /// <item>when the mapped password is empty, holds a prohibited (C.1.2–C.9) or, in Unicode 3.2, unassigned (A.1)
    /// character, or breaks the bidirectional rules (RFC 3454 §6), the password is returned unchanged, which is what
    /// PostgreSQL and libpq then use. Like PostgreSQL, these checks look at the mapped password before normalization.</item>
    /// </list>
    /// A string that is not valid UTF-16 (a lone surrogate) is returned unchanged too (PostgreSQL: not valid UTF-8).
    /// </summary>
    public static string SaslPrep(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (Ascii.IsValid(password))
        {
            return password;
        }
        var mapped = new int[password.Length];
        var count = 0;
        try
        {
            var rest = password.AsSpan();
            while (!rest.IsEmpty)
            {
                if (Rune.DecodeFromUtf16(rest, out var rune, out var used) != OperationStatus.Done)
                {
                    return password;
                }
                rest = rest[used..];
                if (StringprepTables.Contains(StringprepTables.NonAsciiSpace, rune.Value))
                {
                    mapped[count++] = ' ';
                }
                else if (!StringprepTables.Contains(StringprepTables.MappedToNothing, rune.Value))
                {
                    mapped[count++] = rune.Value;
                }
            }
            var codes = mapped.AsSpan(0, count);
            if (codes.IsEmpty || !Allowed(codes))
            {
                return password;
            }
            var text = new StringBuilder(password.Length);
            foreach (var code in codes)
            {
                text.Append(new Rune(code).ToString());
            }
            return text.ToString().Normalize(NormalizationForm.FormKC);
        }
        finally
        {
            Array.Clear(mapped);
        }
    }

    private static bool Allowed(ReadOnlySpan<int> codes)
    {
        var randAL = false;
        foreach (var code in codes)
        {
            if (StringprepTables.Contains(StringprepTables.ProhibitedOutput, code) || StringprepTables.Contains(StringprepTables.Unassigned, code))
            {
                return false;
            }
            randAL |= StringprepTables.Contains(StringprepTables.RandALCat, code);
        }
        if (!randAL)
        {
            return true;
        }
        foreach (var code in codes)
        {
            if (StringprepTables.Contains(StringprepTables.LCat, code))
            {
                return false;
            }
        }
        return StringprepTables.Contains(StringprepTables.RandALCat, codes[0]) && StringprepTables.Contains(StringprepTables.RandALCat, codes[^1]);
    }

    /// <summary>A PostgreSQL password is a C string: a NUL would end it early on the server's side.</summary>
    internal static void RefuseNul(string password)
    {
        if (password.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("a PostgreSQL password cannot contain NUL", nameof(password));
        }
    }

    private static void WriteHex(ReadOnlySpan<byte> bytes, Span<byte> ascii)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            ascii[2 * i] = Nibble(bytes[i] >> 4);
            ascii[(2 * i) + 1] = Nibble(bytes[i] & 0xF);
        }
    }

    private static byte Nibble(int value) => (byte)(value < 10 ? '0' + value : 'a' + value - 10);
}
