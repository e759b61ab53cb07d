using System.Globalization;

namespace SecretlessProxy.Configuration;

/// <summary>Short durations as people type them: <c>90s</c>, <c>30m</c>, <c>24h</c>, <c>7d</c>.</summary>
public static class Durations
{
    /// <summary>The duration, or null when the text is not a positive number with one of the units s, m, h, d (or is too long to represent).</summary>
    public static TimeSpan? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length < 2 || !double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || double.IsInfinity(value))
        {
            return null;
        }
        var seconds = char.ToLowerInvariant(text[^1]) switch
        {
            's' => value,
            'm' => value * 60,
            'h' => value * 3600,
            'd' => value * 86400,
            _ => double.NaN,
        };
        return double.IsNaN(seconds) || seconds >= TimeSpan.MaxValue.TotalSeconds ? null : TimeSpan.FromSeconds(seconds);
    }
}
