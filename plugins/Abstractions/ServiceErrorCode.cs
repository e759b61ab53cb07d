namespace SecretlessProxy.Abstractions;

/// <summary>
/// The error code of a store's or issuer's error answer as it may travel on (into a refusal's <c>detail</c>, a log line):
/// a short token of letters, digits and the punctuation the service's codes use. Anything else (a code that echoes
/// input, a message) is replaced, and the service's message text never travels on at all.
/// </summary>
public static class ServiceErrorCode
{
    /// <summary>The text shown instead of a code that does not look like one.</summary>
    public const string Unrecognized = "UnrecognizedError";

    /// <summary><paramref name="code"/> when it is at most 64 ASCII letters, digits and characters of <paramref name="punctuation"/>; else <see cref="Unrecognized"/>; null for null.</summary>
    public static string? Sanitize(string? code, string punctuation = "")
    {
        ArgumentNullException.ThrowIfNull(punctuation);
        if (code is null)
        {
            return null;
        }
        return code.Length <= 64 && code.All(c => char.IsAsciiLetterOrDigit(c) || punctuation.Contains(c, StringComparison.Ordinal)) ? code : Unrecognized;
    }
}
