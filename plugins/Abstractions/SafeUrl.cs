namespace SecretlessProxy.Abstractions;

/// <summary>
/// How a configured URL (a token endpoint, an issuer, an upstream) is shown in logs, error answers and the admin
/// API: scheme, host, port and path only. User info (<c>user:password@</c>) and the query carry secrets often
/// enough that they are never shown.
/// </summary>
public static class SafeUrl
{
    /// <summary>The URL without user info, query or fragment; a value that is not an absolute URL is returned with anything after '?' or '#' cut.</summary>
    public static string Display(string? url)
    {
        if (string.IsNullOrEmpty(url))
        {
            return url ?? "";
        }
        if (Uri.TryCreate(url, UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.Host))
        {
            return Display(uri);
        }
        var cut = url.IndexOfAny(['?', '#']);
        var text = cut < 0 ? url : url[..cut];
        var at = text.IndexOf('@', StringComparison.Ordinal);
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? string.Concat(text.AsSpan(0, scheme + 3), text.AsSpan(at + 1)) : text;
    }

    /// <summary>The URL without user info, query or fragment.</summary>
    public static string Display(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!url.IsAbsoluteUri)
        {
            return Display(url.OriginalString);
        }
        return url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
    }
}
