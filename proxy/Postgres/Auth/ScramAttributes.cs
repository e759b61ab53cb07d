using System.Text;

namespace SecretlessProxy.Postgres.Auth;

/// <summary>
/// The attribute lists of RFC 5802 §7: <c>attr-val *("," attr-val)</c>, where attr-val is one ASCII letter, '=' and a
/// value of at least one character other than ',' (NUL is refused too). Messages from a server are small, so this
/// is a plain split with strict checks.
/// </summary>
internal static class ScramAttributes
{
    private const int MaxShown = 200;

    /// <summary>The attributes in order, at least one.</summary>
    /// <exception cref="ScramException">The text is not such a list.</exception>
    public static List<(char Name, string Value)> Parse(string message, string what)
    {
        var attributes = new List<(char Name, string Value)>();
        foreach (var part in message.Split(','))
        {
            if (part.Length < 3 || !char.IsAsciiLetter(part[0]) || part[1] != '=' || part.Contains('\0', StringComparison.Ordinal))
            {
                throw new ScramException($"malformed {what}: expected attributes of the form a=value, separated by ','");
            }
            attributes.Add((part[0], part[2..]));
        }
        return attributes;
    }

    /// <summary>Strict base64 (RFC 4648 alphabet, padded, no whitespace, canonical), or null.</summary>
    public static byte[]? Base64(string value)
    {
        if (value.Length % 4 != 0)
        {
            return null;
        }
        var bytes = new byte[value.Length / 4 * 3];
        if (!Convert.TryFromBase64String(value, bytes, out var written))
        {
            return null;
        }
        var decoded = bytes.AsSpan(0, written).ToArray();
        return Convert.ToBase64String(decoded) == value ? decoded : null;
    }

    /// <summary>A server-supplied value as shown in an exception message: visible ASCII and spaces only, and not too long.</summary>
    public static string Printable(string value)
    {
        var shown = new StringBuilder(Math.Min(value.Length, MaxShown));
        foreach (var c in value.Length > MaxShown ? value[..MaxShown] : value)
        {
            shown.Append(c is >= ' ' and <= '~' ? c : '?');
        }
        if (value.Length > MaxShown)
        {
            shown.Append('…');
        }
        return shown.ToString();
    }
}
