using System.Diagnostics.CodeAnalysis;

namespace SecretlessProxy.Identity;

/// <summary>
/// A SPIFFE ID that passed validation (SPIFFE-ID standard): <c>spiffe://trust-domain/path</c>, lowercase trust
/// domain of <c>[a-z0-9._-]</c>, path segments of <c>[a-zA-Z0-9._-]</c> with no empty, <c>.</c> or <c>..</c>
/// segment, no trailing slash, no percent-encoding, query, fragment, port or userinfo, at most 2048 bytes.
/// An instance cannot hold an invalid ID.
/// </summary>
public sealed class SpiffeId : IEquatable<SpiffeId>
{
    public const string Scheme = "spiffe://";
    public const int MaxLength = 2048;
    public const int MaxTrustDomainLength = 255;

    private SpiffeId(string value, int trustDomainLength)
    {
        Value = value;
        TrustDomain = value.Substring(Scheme.Length, trustDomainLength);
    }

    /// <summary>The whole ID, e.g. <c>spiffe://example.org/ns/payments/sa/api</c>.</summary>
    public string Value { get; }

    /// <summary>The trust domain name, e.g. <c>example.org</c>.</summary>
    public string TrustDomain { get; }

    /// <summary>The path, empty for the trust domain's own ID, else starting with '/'.</summary>
    public ReadOnlySpan<char> Path => Value.AsSpan(Scheme.Length + TrustDomain.Length);

    /// <summary>True for <c>spiffe://td</c> with no path, which a workload SVID must not have.</summary>
    public bool IsRoot => Value.Length == Scheme.Length + TrustDomain.Length;

    public static SpiffeId Parse(string value) =>
        TryParse(value, out var id, out var error) ? id : throw new FormatException($"invalid SPIFFE ID: {error}");

    public static bool TryParse(string? value, [NotNullWhen(true)] out SpiffeId? id, [NotNullWhen(false)] out string? error)
    {
        id = null;
        if (string.IsNullOrEmpty(value))
        {
            error = "it is empty";
            return false;
        }
        if (value.Length > MaxLength)
        {
            error = $"it is longer than {MaxLength} bytes";
            return false;
        }
        if (!value.StartsWith(Scheme, StringComparison.Ordinal))
        {
            error = "the scheme must be 'spiffe://' (lowercase)";
            return false;
        }
        var rest = value.AsSpan(Scheme.Length);
        var slash = rest.IndexOf('/');
        var trustDomain = slash < 0 ? rest : rest[..slash];
        if (!TryValidateTrustDomain(trustDomain, out error))
        {
            return false;
        }
        if (slash >= 0 && !TryValidatePath(rest[slash..], out error))
        {
            return false;
        }
        id = new SpiffeId(value, trustDomain.Length);
        error = null;
        return true;
    }

    /// <summary>Checks a trust domain name on its own (as written in a bundle map or a pattern).</summary>
    public static bool TryValidateTrustDomain(ReadOnlySpan<char> trustDomain, [NotNullWhen(false)] out string? error)
    {
        if (trustDomain.IsEmpty)
        {
            error = "the trust domain is missing";
            return false;
        }
        if (trustDomain.Length > MaxTrustDomainLength)
        {
            error = $"the trust domain is longer than {MaxTrustDomainLength} characters";
            return false;
        }
        foreach (var c in trustDomain)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '.' or '-' or '_'))
            {
                error = c switch
                {
                    >= 'A' and <= 'Z' => "the trust domain must be lowercase",
                    ':' => "the trust domain cannot have a port",
                    '@' => "the trust domain cannot have user info",
                    '%' => "the trust domain cannot be percent-encoded",
                    _ => $"the trust domain has an invalid character '{Printable(c)}' (allowed: a-z 0-9 . - _)",
                };
                return false;
            }
        }
        error = null;
        return true;
    }

    private static bool TryValidatePath(ReadOnlySpan<char> path, [NotNullWhen(false)] out string? error)
    {
        // path starts with '/'.
        if (path.Length == 1 || path[^1] == '/')
        {
            error = "the path cannot have a trailing slash";
            return false;
        }
        var segmentStart = 1;
        for (var i = 1; i <= path.Length; i++)
        {
            if (i == path.Length || path[i] == '/')
            {
                var segment = path[segmentStart..i];
                if (segment.IsEmpty)
                {
                    error = "the path cannot have an empty segment ('//')";
                    return false;
                }
                if (segment is "." or "..")
                {
                    error = "the path cannot have '.' or '..' segments";
                    return false;
                }
                segmentStart = i + 1;
                continue;
            }
            var c = path[i];
            if (!(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '-' or '_'))
            {
                error = c switch
                {
                    '%' => "the path cannot be percent-encoded",
                    '?' => "the ID cannot have a query",
                    '#' => "the ID cannot have a fragment",
                    _ => $"the path has an invalid character '{Printable(c)}' (allowed: a-z A-Z 0-9 . - _)",
                };
                return false;
            }
        }
        error = null;
        return true;
    }

    private static string Printable(char c) => char.IsControl(c) || char.IsWhiteSpace(c) ? $"U+{(int)c:X4}" : c.ToString();

    public bool Equals(SpiffeId? other) => other is not null && string.Equals(Value, other.Value, StringComparison.Ordinal);

    public override bool Equals(object? obj) => Equals(obj as SpiffeId);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    public override string ToString() => Value;
}
