using System.Buffers;
using System.Text;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// Puts a path and query into the one encoding SigV4 signs: every byte but RFC 3986's unreserved characters
/// percent-encoded with uppercase hex. Works on bytes, so any input (invalid UTF-8 escapes, stray '%') keeps
/// its meaning and never throws.
/// </summary>
internal static class UriCanonicalizer
{
    private static readonly SearchValues<byte> Unreserved =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"u8);

    /// <summary>Each '/'-separated segment decoded and re-encoded; the separators stay.</summary>
    public static string Path(string path)
    {
        if (path.Length == 0)
        {
            return "/";
        }
        var builder = new StringBuilder(path.Length + 8);
        var start = 0;
        while (true)
        {
            var slash = path.IndexOf('/', start);
            var end = slash < 0 ? path.Length : slash;
            Reencode(builder, path.AsSpan(start, end - start), plusIsSpace: false);
            if (slash < 0)
            {
                break;
            }
            builder.Append('/');
            start = slash + 1;
        }
        return builder.ToString();
    }

    /// <summary>
    /// The query's name/value pairs (leading '?' optional), each decoded and re-encoded, in their order; pairs
    /// whose name <paramref name="drop"/> matches are left out. A name without '=' gets an empty value.
    /// </summary>
    public static List<KeyValuePair<string, string>> Query(string query, Func<string, bool> drop)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        var span = query.AsSpan();
        if (span.StartsWith("?"))
        {
            span = span[1..];
        }
        foreach (var range in span.Split('&'))
        {
            var part = span[range];
            if (part.IsEmpty)
            {
                continue;
            }
            var equals = part.IndexOf('=');
            var name = new StringBuilder();
            var value = new StringBuilder();
            // HTML forms and many clients write a space as '+'; AWS SDKs never send a bare '+', so read it as a space.
            Reencode(name, equals < 0 ? part : part[..equals], plusIsSpace: true);
            if (equals >= 0)
            {
                Reencode(value, part[(equals + 1)..], plusIsSpace: true);
            }
            var key = name.ToString();
            if (!drop(key))
            {
                pairs.Add(new(key, value.ToString()));
            }
        }
        return pairs;
    }

    private static void Reencode(StringBuilder builder, ReadOnlySpan<char> text, bool plusIsSpace)
    {
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '%' && i + 2 < text.Length && IsHex(text[i + 1]) && IsHex(text[i + 2]))
            {
                Append(builder, (byte)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2])));
                i += 2;
            }
            else if (c == '+' && plusIsSpace)
            {
                Append(builder, (byte)' ');
            }
            else if (c < 0x80)
            {
                Append(builder, (byte)c);
            }
            else
            {
                // A lone surrogate decodes as U+FFFD, consuming one char.
                Rune.DecodeFromUtf16(text[i..], out var rune, out var consumed);
                var written = rune.EncodeToUtf8(utf8);
                foreach (var b in utf8[..written])
                {
                    Append(builder, b);
                }
                i += consumed - 1;
            }
        }
    }

    private static void Append(StringBuilder builder, byte b)
    {
        if (Unreserved.Contains(b))
        {
            builder.Append((char)b);
        }
        else
        {
            builder.Append('%').Append(ToHex(b >> 4)).Append(ToHex(b & 0xF));
        }
    }

    private static char ToHex(int value) => (char)(value < 10 ? '0' + value : 'A' + value - 10);

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
