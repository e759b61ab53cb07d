using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace SecretlessProxy.DynamicUsers;

/// <summary>
/// <c>usernameTemplate</c> of a <c>postgres-dynamic</c> credential: a fixed prefix, then literal text and placeholders
/// (<c>{{caller}}</c>: the last path segment of the caller's SPIFFE ID; <c>{{role}}</c>: the credential's name, Vault's
/// "role"; <c>{{random}}</c>: 8 base32 characters; <c>{{time}}</c>: unix seconds). Names hold only <c>[a-z0-9_]</c> and
/// at most 63 bytes (PostgreSQL's NAMEDATALEN - 1): values are lowercased, other characters become <c>_</c>, and
/// <c>{{caller}}</c> and <c>{{role}}</c> are shortened (the longest first) so the name fits with its random part whole.
/// So a rendered name needs no quoting rules at all, and the fixed prefix names the roles the start-up sweep may drop.
/// </summary>
internal sealed partial class RoleNameTemplate
{
    public const int MaxLength = 63;
    public const int RandomLength = 8;
    public const string DefaultText = "sl_{{caller}}_{{random}}";
    private const string Base32 = "abcdefghijklmnopqrstuvwxyz234567";

    private readonly List<Part> _parts;
    private readonly Regex _pattern;

    private RoleNameTemplate(string text, List<Part> parts, int limit)
    {
        Text = text;
        Limit = limit;
        _parts = parts;
        Prefix = parts[0].Literal!;
        var pattern = new StringBuilder("^");
        foreach (var part in parts)
        {
            pattern.Append(part.Placeholder switch
            {
                null => Regex.Escape(part.Literal!),
                "random" => "[a-z2-7]{" + RandomLength.ToString(CultureInfo.InvariantCulture) + "}",
                "time" => "[0-9]+",
                _ => "[a-z0-9_]+",
            });
        }
        _pattern = new Regex(pattern.Append('$').ToString(), RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
    }

    public string Text { get; }

    /// <summary>The longest name the server takes (PostgreSQL 63; MariaDB 80, MySQL 32 for the <c>mysql-dynamic</c> provider).</summary>
    public int Limit { get; }

    /// <summary>The literal text before the first placeholder: every name starts with it.</summary>
    public string Prefix { get; }

    private sealed record Part(string? Literal, string? Placeholder);

    /// <summary>The template, or null and every problem with it.</summary>
    public static RoleNameTemplate? Parse(string text, out List<string> problems, int limit = MaxLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        problems = [];
        var parts = new List<Part>();
        var at = 0;
        foreach (Match match in Placeholder().Matches(text))
        {
            if (match.Index > at)
            {
                parts.Add(new Part(text[at..match.Index], null));
            }
            var name = match.Groups[1].Value;
            if (name is not ("caller" or "role" or "random" or "time"))
            {
                problems.Add($"'{{{{{name}}}}}' is not a placeholder of usernameTemplate (use {{{{caller}}}}, {{{{role}}}}, {{{{random}}}}, {{{{time}}}})");
            }
            parts.Add(new Part(null, name));
            at = match.Index + match.Length;
        }
        if (at < text.Length)
        {
            parts.Add(new Part(text[at..], null));
        }
        foreach (var literal in parts.Where(p => p.Literal is not null).Select(p => p.Literal!))
        {
            if (literal.Contains("{{", StringComparison.Ordinal) || literal.Contains("}}", StringComparison.Ordinal))
            {
                problems.Add($"'{literal}' holds an unfinished placeholder");
            }
            else if (literal.Any(c => !IsNameChar(c)))
            {
                problems.Add($"'{literal}' holds characters other than a-z, 0-9 and _ (names are never quoted into SQL otherwise than as they are)");
            }
        }
        if (parts.Count == 0 || parts[0].Literal is not { } prefix || prefix.Length < 3 || prefix[0] is < 'a' or > 'z')
        {
            problems.Add("must start with a fixed prefix of at least 3 characters, the first a letter (e.g. sl_): it tells the roles the proxy made, which the start-up sweep may drop, from every other role");
        }
        else if (prefix.StartsWith("pg_", StringComparison.Ordinal))
        {
            problems.Add("cannot start with pg_: PostgreSQL reserves those role names");
        }
        if (!parts.Any(p => p.Placeholder == "random"))
        {
            problems.Add("must hold {{random}}: every credential is a new role, so names must not repeat");
        }
        if (problems.Count > 0)
        {
            return null;
        }
        var template = new RoleNameTemplate(text, parts, limit);
        var shortest = template.FixedLength(9_999_999_999) + parts.Count(p => p.Placeholder is "caller" or "role");
        if (shortest > limit)
        {
            problems.Add($"its names would be {shortest} characters even with one-character values: {(limit == MaxLength ? "PostgreSQL cuts role names" : "the server cuts user names")} at {limit}");
            return null;
        }
        return template;
    }

    /// <summary>A name for <paramref name="caller"/> (already sanitized or not: it is sanitized here).</summary>
    public string Render(string caller, string role, DateTimeOffset now, string random)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["caller"] = Sanitize(caller),
            ["role"] = Sanitize(role),
        };
        var unix = now.ToUnixTimeSeconds();
        var budget = Limit - FixedLength(unix);
        // Shorten the longest variable value until everything fits.
        int Used() => _parts.Where(p => p.Placeholder is "caller" or "role").Sum(p => values[p.Placeholder!].Length);
        while (Used() > budget)
        {
            var longest = values.MaxBy(v => _parts.Any(p => p.Placeholder == v.Key) ? v.Value.Length : 0).Key;
            values[longest] = values[longest][..^1];
        }
        var name = new StringBuilder(Limit);
        foreach (var part in _parts)
        {
            name.Append(part.Placeholder switch
            {
                null => part.Literal,
                "random" => random,
                "time" => unix.ToString(CultureInfo.InvariantCulture),
                _ => values[part.Placeholder],
            });
        }
        return name.Length <= Limit ? name.ToString() : name.ToString(0, Limit);
    }

    /// <summary>Whether <paramref name="name"/> is one this template makes (the sweep and releases touch no other role).</summary>
    public bool Matches(string name) => name.Length <= Limit && name.StartsWith(Prefix, StringComparison.Ordinal) && _pattern.IsMatch(name);

    /// <summary>Lowercased; every character other than a-z, 0-9 and _ becomes _; never empty.</summary>
    public static string Sanitize(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = string.Create(value.Length, value, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = char.ToLowerInvariant(source[i]);
                span[i] = IsNameChar(c) ? c : '_';
            }
        });
        return text.Length > 0 ? text : "_";
    }

    /// <summary>The last path segment of a SPIFFE ID (its trust domain when it has no path).</summary>
    public static string CallerOf(string spiffeId)
    {
        ArgumentNullException.ThrowIfNull(spiffeId);
        var rest = spiffeId.StartsWith("spiffe://", StringComparison.OrdinalIgnoreCase) ? spiffeId["spiffe://".Length..] : spiffeId;
        rest = rest.TrimEnd('/');
        var slash = rest.LastIndexOf('/');
        return slash < 0 ? rest : rest[(slash + 1)..];
    }

    /// <summary>8 random base32 characters (40 bits).</summary>
    public static string NewRandom() => RandomNumberGenerator.GetString(Base32, RandomLength);

    private int FixedLength(long unix) => _parts.Sum(p => p.Placeholder switch
    {
        null => p.Literal!.Length,
        "random" => RandomLength,
        "time" => unix.ToString(CultureInfo.InvariantCulture).Length,
        _ => 0,
    });

    private static bool IsNameChar(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_';

    [GeneratedRegex(@"\{\{([A-Za-z_]+)\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}

/// <summary>
/// The SQL of <c>creation</c>, <c>renewal</c> or <c>revocation</c>, with <c>{{name}}</c> (a validated role name),
/// <c>{{password}}</c> (the SCRAM verifier: the plaintext never reaches the server) and <c>{{expiry}}</c> (an ISO
/// timestamp, UTC) where the statement allows them. The values are substituted as they are: none can hold a quote.
/// </summary>
internal sealed partial class SqlTemplate
{
    private readonly string _text;

    private SqlTemplate(string text, HashSet<string> used)
    {
        _text = text;
        Used = used;
    }

    public IReadOnlySet<string> Used { get; }

    /// <summary>The template, or null and its problems: an unknown placeholder, or one of <paramref name="required"/> missing.</summary>
    public static SqlTemplate? Parse(string text, IReadOnlyCollection<string> allowed, IReadOnlyCollection<string> required, out List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(text);
        problems = [];
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (Match match in Placeholder().Matches(text))
        {
            var name = match.Groups[1].Value;
            if (!allowed.Contains(name))
            {
                problems.Add($"'{{{{{name}}}}}' is not a placeholder here (this statement may use {string.Join(", ", allowed.Select(a => "{{" + a + "}}"))})");
            }
            used.Add(name);
        }
        var rest = Placeholder().Replace(text, "");
        if (rest.Contains("{{", StringComparison.Ordinal) || rest.Contains("}}", StringComparison.Ordinal))
        {
            problems.Add("holds an unfinished placeholder ({{ or }} without a name between)");
        }
        foreach (var name in required.Where(r => !used.Contains(r)))
        {
            problems.Add($"must use {{{{{name}}}}}");
        }
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            problems.Add("holds a NUL character");
        }
        return problems.Count == 0 ? new SqlTemplate(text, used) : null;
    }

    public string Render(IReadOnlyDictionary<string, string> values) =>
        Placeholder().Replace(_text, match => values.TryGetValue(match.Groups[1].Value, out var value)
            ? value
            : throw new InvalidOperationException($"no value for {{{{{match.Groups[1].Value}}}}}"));

    [GeneratedRegex(@"\{\{([A-Za-z_]+)\}\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();
}
