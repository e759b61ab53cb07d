using System.Collections.Frozen;

namespace SecretlessProxy.Injection;

/// <summary>Header-name rules shared by injectors.</summary>
internal static class HeaderNames
{
    private static readonly FrozenSet<string> Forbidden = new[]
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer", "Upgrade", "Host",
        "Content-Length", "Content-Type",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Null when <paramref name="name"/> can carry a credential, else why not.</summary>
    public static string? Problem(string name)
    {
        foreach (var c in name)
        {
            // RFC 9110 token characters.
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c, StringComparison.Ordinal)))
            {
                return $"is not a valid header name (character '{c}')";
            }
        }
        if (name.StartsWith(':'))
        {
            return "is a pseudo-header";
        }
        return Forbidden.Contains(name) ? "is a connection or framing header the proxy controls" : null;
    }
}
