using SecretlessProxy.Refusals;

namespace SecretlessProxy.Policy;

/// <summary>
/// Refuses request targets whose path could mean one thing to the policy and another to the upstream:
/// encoded separators or dots (<c>%2F</c>, <c>%5C</c>, <c>%2E</c>), double encoding (<c>%25</c>), encoded
/// control characters, backslashes, <c>;</c> path parameters, empty segments (<c>//</c>), dot segments, a <c>#</c>
/// anywhere in the target (Kestrel keeps it in the path, so an upstream would resolve what follows it), and
/// non-ASCII characters, plain or percent-encoded, whose NFKC form holds a separator (U+FF0E, U+FF0F, U+2024: an
/// upstream that normalizes Unicode would read them as <c>.</c> or <c>/</c>) or that are slash look-alikes some
/// servers fold into one (U+2215, U+2044). What passes is forwarded exactly as the policy saw it.
/// </summary>
public static class PathGuard
{
    // Slashes NFKC leaves alone but some servers map to '/' or '\\' ("best fit" code pages, confusable folding).
    private static readonly int[] SlashLookalikes = [0x2215, 0x2044, 0x29F8, 0x2571, 0x2216, 0x29F5, 0x29F9, 0x2572];

    private static readonly System.Buffers.SearchValues<char> StructuralCharacters = System.Buffers.SearchValues.Create("/\\.%;?#");

    /// <summary>Returns null when the raw target's path is unambiguous, else a reason code and detail.</summary>
    public static (string Reason, string Detail)? Check(ReadOnlySpan<char> rawTarget)
    {
        if (rawTarget.Contains('#'))
        {
            return (RefusalCatalog.Fragment.Reason, "the request target contains '#' (a fragment is never sent to a server, and an upstream could resolve what follows it as path)");
        }
        var query = rawTarget.IndexOf('?');
        var path = query < 0 ? rawTarget : rawTarget[..query];
        if (path.IsEmpty || path[0] != '/')
        {
            return (RefusalCatalog.NotOriginForm.Reason, "the request target must be a path starting with '/'");
        }
        var segmentStart = 1;
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            switch (c)
            {
                case '\\':
                    return (RefusalCatalog.Backslash.Reason, "the path contains a backslash");
                case ';':
                    return (RefusalCatalog.PathParameter.Reason, "the path contains ';' (path parameters are not accepted)");
                case '%':
                    if (i + 2 >= path.Length || !char.IsAsciiHexDigit(path[i + 1]) || !char.IsAsciiHexDigit(path[i + 2]))
                    {
                        return (RefusalCatalog.BadEncoding.Reason, "the path has a '%' that is not followed by two hex digits");
                    }
                    var value = (HexDigit(path[i + 1]) << 4) | HexDigit(path[i + 2]);
                    if (value is '/' or '\\' or '.' or '%' or ';' or < 0x20 or 0x7F)
                    {
                        return (RefusalCatalog.AmbiguousEncoding.Reason, $"the path encodes '%{path.Slice(i + 1, 2).ToString().ToUpperInvariant()}', which is ambiguous; send the character plainly or not at all");
                    }
                    if (value >= 0x80)
                    {
                        var end = EncodedRunEnd(path, i);
                        if (NonAsciiSeparator(DecodeUtf8(path[i..end])) is { } separator)
                        {
                            return separator;
                        }
                        i = end - 1;
                        break;
                    }
                    i += 2;
                    break;
                case '/':
                    if (i > 0)
                    {
                        var segment = path[segmentStart..i];
                        var problem = CheckSegment(segment);
                        if (problem is not null)
                        {
                            return problem;
                        }
                    }
                    segmentStart = i + 1;
                    break;
                default:
                    if (char.IsControl(c) || c == ' ')
                    {
                        return (RefusalCatalog.InvalidCharacter.Reason, "the path contains a control character or space");
                    }
                    if (c >= 0x80)
                    {
                        var end = i + 1;
                        while (end < path.Length && path[end] >= 0x80)
                        {
                            end++;
                        }
                        if (NonAsciiSeparator(path[i..end].ToString()) is { } separator)
                        {
                            return separator;
                        }
                        i = end - 1;
                    }
                    break;
            }
        }
        return segmentStart < path.Length ? CheckSegment(path[segmentStart..]) : null;
    }

    /// <summary>Whether the raw target is absolute-form <c>http://authority/…</c> (what an HTTP_PROXY client sends a forward proxy).</summary>
    public static bool IsAbsoluteHttp(ReadOnlySpan<char> rawTarget) => rawTarget.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// <see cref="Check"/> for an absolute-form <c>http://authority/path</c> target (forward-proxy listeners only): the
    /// authority may hold no userinfo, and what follows it is checked as an origin-form target.
    /// </summary>
    public static (string Reason, string Detail)? CheckAbsoluteHttp(ReadOnlySpan<char> rawTarget)
    {
        if (!IsAbsoluteHttp(rawTarget))
        {
            return (RefusalCatalog.NotOriginForm.Reason, "the request target must be a path starting with '/' or, on a forward proxy, http://host/path");
        }
        var rest = rawTarget["http://".Length..];
        var end = rest.IndexOfAny('/', '?', '#');
        var authority = end < 0 ? rest : rest[..end];
        if (authority.IsEmpty || authority.Contains('@') || authority.Contains('\\') || authority.Contains('%'))
        {
            return (RefusalCatalog.NotOriginForm.Reason, "the absolute-form target's authority must be host or host:port (no userinfo, no encoding)");
        }
        if (end < 0)
        {
            return null;
        }
        var path = rest[end..];
        return path[0] == '/' ? Check(path) : Check(string.Concat("/", path));
    }

    /// <summary>The end of a run of <c>%XX</c> triplets starting at <paramref name="start"/> that encode bytes of 0x80 and above.</summary>
    private static int EncodedRunEnd(ReadOnlySpan<char> path, int start)
    {
        var end = start;
        while (end + 2 < path.Length && path[end] == '%' && char.IsAsciiHexDigit(path[end + 1]) && char.IsAsciiHexDigit(path[end + 2])
            && ((HexDigit(path[end + 1]) << 4) | HexDigit(path[end + 2])) >= 0x80)
        {
            end += 3;
        }
        return end;
    }

    private static string DecodeUtf8(ReadOnlySpan<char> triplets)
    {
        Span<byte> bytes = triplets.Length <= 768 ? stackalloc byte[triplets.Length / 3] : new byte[triplets.Length / 3];
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((HexDigit(triplets[i * 3 + 1]) << 4) | HexDigit(triplets[i * 3 + 2]));
        }
        // Invalid sequences decode to U+FFFD, which normalizes to nothing dangerous.
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    /// <summary>A refusal when some character of <paramref name="text"/> normalizes (NFKC) to a character that structures a path.</summary>
    private static (string, string)? NonAsciiSeparator(string text)
    {
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value < 0x80)
            {
                continue;
            }
            var single = rune.ToString();
            string normalized;
            try
            {
                normalized = single.Normalize(System.Text.NormalizationForm.FormKC);
            }
            catch (ArgumentException)
            {
                normalized = single;
            }
            if (normalized.AsSpan().IndexOfAny(StructuralCharacters) >= 0 || SlashLookalikes.Contains(rune.Value))
            {
                return (RefusalCatalog.UnicodeSeparator.Reason, $"the path contains U+{rune.Value:X4}, which Unicode normalization turns into '{normalized}'; an upstream that normalizes would see another path");
            }
        }
        return null;
    }

    private static int HexDigit(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static (string, string)? CheckSegment(ReadOnlySpan<char> segment)
    {
        if (segment.IsEmpty)
        {
            return (RefusalCatalog.EmptySegment.Reason, "the path contains an empty segment ('//')");
        }
        if (segment is "." or "..")
        {
            return (RefusalCatalog.DotSegment.Reason, "the path contains a '.' or '..' segment");
        }
        return null;
    }
}
