using System.Globalization;
using System.Text.RegularExpressions;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>Reads the proxy's Prometheus text exposition: one sample by name and labels.</summary>
public static partial class Scrape
{
    public static async Task<string> MetricsAsync(ProxyUnderTest proxy)
    {
        var result = await Curl.RunAsync(new Uri(proxy.AdminUri, "/metrics").ToString());
        Assert.Equal(200, result.Status);
        return result.Body;
    }

    /// <summary>The value of the sample <paramref name="name"/> with exactly these labels (in the order written), or null.</summary>
    public static double? Value(string text, string name, string labels = "")
    {
        var prefix = labels.Length == 0 ? name + " " : name + "{" + labels + "} ";
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return double.Parse(line[prefix.Length..].Trim(), CultureInfo.InvariantCulture);
            }
        }
        return null;
    }

    /// <summary>Scrapes until <paramref name="name"/>{<paramref name="labels"/>} satisfies <paramref name="condition"/>.</summary>
    public static async Task<string> WaitForAsync(ProxyUnderTest proxy, string name, string labels, Func<double, bool> condition)
    {
        var text = "";
        await Eventually.Until(async () =>
        {
            text = await MetricsAsync(proxy);
            return Value(text, name, labels) is { } value && condition(value);
        }, $"{name}{{{labels}}} meets the condition", lastSeen: () => "last scrape:\n" + text);
        return text;
    }

    /// <summary>Metric family names in the exposition (from the # TYPE lines).</summary>
    public static IReadOnlyList<string> Families(string text) => TypeLine().Matches(text).Select(m => m.Groups[1].Value).ToList();

    [GeneratedRegex(@"^# TYPE (\S+) ", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
