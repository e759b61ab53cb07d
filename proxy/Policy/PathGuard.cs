namespace SecretlessProxy.Policy;

/// <summary>
/// Refuses request targets whose path could mean one thing to the policy and another to the upstream:
/// encoded separators or dots (<c>%2F</c>, <c>%5C</c>, <c>%2E</c>), double encoding (<c>%25</c>), encoded
/// control characters, backslashes, <c>;</c> path parameters, empty segments (<c>//</c>) and dot segments.
/// What passes is forwarded exactly as the policy saw it.
/// </summary>
public static class PathGuard
{
    /// <summary>Returns null when the raw target's path is unambiguous, else a reason code and detail.</summary>
    public static (string Reason, string Detail)? Check(ReadOnlySpan<char> rawTarget)
    {
        var query = rawTarget.IndexOfAny('?', '#');
        var path = query < 0 ? rawTarget : rawTarget[..query];
        if (path.IsEmpty || path[0] != '/')
        {
            return ("request_target_not_origin_form", "the request target must be a path starting with '/'");
        }
        var segmentStart = 1;
        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            switch (c)
            {
                case '\\':
                    return ("path_backslash", "the path contains a backslash");
                case ';':
                    return ("path_parameter", "the path contains ';' (path parameters are not accepted)");
                case '%':
                    if (i + 2 >= path.Length || !char.IsAsciiHexDigit(path[i + 1]) || !char.IsAsciiHexDigit(path[i + 2]))
                    {
                        return ("path_bad_encoding", "the path has a '%' that is not followed by two hex digits");
                    }
                    var value = (HexDigit(path[i + 1]) << 4) | HexDigit(path[i + 2]);
                    if (value is '/' or '\\' or '.' or '%' or ';' or < 0x20 or 0x7F)
                    {
                        return ("path_ambiguous_encoding", $"the path encodes '%{path.Slice(i + 1, 2).ToString().ToUpperInvariant()}', which is ambiguous; send the character plainly or not at all");
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
                        return ("path_invalid_character", "the path contains a control character or space");
                    }
                    break;
            }
        }
        return segmentStart < path.Length ? CheckSegment(path[segmentStart..]) : null;
    }

    private static int HexDigit(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    private static (string, string)? CheckSegment(ReadOnlySpan<char> segment)
    {
        if (segment.IsEmpty)
        {
            return ("path_empty_segment", "the path contains an empty segment ('//')");
        }
        if (segment is "." or "..")
        {
            return ("path_dot_segment", "the path contains a '.' or '..' segment");
        }
        return null;
    }
}
