using System.Diagnostics.CodeAnalysis;

namespace SecretlessProxy.Identity;

/// <summary>
/// Which workloads a policy rule names: an exact ID (<c>spiffe://example.org/ns/a/sa/b</c>), every ID under a
/// path (<c>spiffe://example.org/ns/a/*</c>, whole segments only) or a whole trust domain
/// (<c>spiffe://example.org/*</c>).
/// </summary>
public sealed class SpiffeIdPattern
{
    private SpiffeIdPattern(string text, string key, bool isPrefix)
    {
        Text = text;
        Key = key;
        IsPrefix = isPrefix;
    }

    /// <summary>As written in the config.</summary>
    public string Text { get; }

    /// <summary>The exact ID, or for a prefix the ID text up to and including the last '/' (e.g. <c>spiffe://td/ns/a/</c>).</summary>
    public string Key { get; }

    public bool IsPrefix { get; }

    public static bool TryParse(string? text, [NotNullWhen(true)] out SpiffeIdPattern? pattern, [NotNullWhen(false)] out string? error)
    {
        pattern = null;
        if (text is null)
        {
            error = "it is empty";
            return false;
        }
        if (text.EndsWith("/*", StringComparison.Ordinal))
        {
            var stem = text[..^2];
            if (!SpiffeId.TryParse(stem, out var stemId, out error))
            {
                error = $"'{stem}' before '/*' is not a valid SPIFFE ID: {error}";
                return false;
            }
            pattern = new SpiffeIdPattern(text, stemId.Value + "/", isPrefix: true);
            return true;
        }
        if (text.Contains('*', StringComparison.Ordinal))
        {
            error = "'*' is only allowed as a whole last segment ('/*')";
            return false;
        }
        if (!SpiffeId.TryParse(text, out var id, out error))
        {
            return false;
        }
        if (id.IsRoot)
        {
            error = "an exact ID needs a path (a workload never has the bare trust domain ID); use 'spiffe://" + id.TrustDomain + "/*' for the whole trust domain";
            return false;
        }
        pattern = new SpiffeIdPattern(text, id.Value, isPrefix: false);
        return true;
    }

    public bool Matches(SpiffeId id) =>
        IsPrefix ? id.Value.StartsWith(Key, StringComparison.Ordinal) : string.Equals(id.Value, Key, StringComparison.Ordinal);

    public override string ToString() => Text;
}
