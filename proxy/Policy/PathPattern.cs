using System.Text;
using System.Text.RegularExpressions;

namespace SecretlessProxy.Policy;

/// <summary>
/// A path glob in a policy rule: <c>*</c> matches within one segment, <c>/**</c> matches any number of
/// further segments (including none). Matching ignores case, as YARP's route matching does, so a deny on
/// <c>/admin/**</c> also covers <c>/ADMIN/x</c>.
/// </summary>
public sealed class PathPattern
{
    private readonly Regex _regex;

    private PathPattern(string text, Regex regex)
    {
        Text = text;
        _regex = regex;
    }

    public string Text { get; }

    public static bool TryParse(string text, out PathPattern? pattern, out string? error)
    {
        pattern = null;
        if (string.IsNullOrEmpty(text) || text[0] != '/')
        {
            error = "a path pattern must start with '/'";
            return false;
        }
        if (text.Contains("***", StringComparison.Ordinal))
        {
            error = "'***' is not a pattern; use '*' for one segment or '/**' for any depth";
            return false;
        }
        var regex = new StringBuilder("^");
        for (var i = 0; i < text.Length; i++)
        {
            if (text.AsSpan(i).StartsWith("/**", StringComparison.Ordinal))
            {
                regex.Append("(?:/.*)?");
                i += 2;
            }
            else if (text[i] == '*' && i + 1 < text.Length && text[i + 1] == '*')
            {
                regex.Append(".*");
                i++;
            }
            else if (text[i] == '*')
            {
                regex.Append("[^/]*");
            }
            else
            {
                regex.Append(Regex.Escape(text[i].ToString()));
            }
        }
        regex.Append('$');
        pattern = new PathPattern(text, new Regex(regex.ToString(), RegexOptions.CultureInvariant | RegexOptions.IgnoreCase | RegexOptions.ExplicitCapture, TimeSpan.FromMilliseconds(50)));
        error = null;
        return true;
    }

    public bool IsMatch(string path) => _regex.IsMatch(path);

    public override string ToString() => Text;
}
