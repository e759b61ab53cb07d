namespace SecretlessProxy.Configuration;

/// <summary>"Did you mean …?" for misspelt keys and names.</summary>
internal static class KeySuggestion
{
    public static string Fix(string actual, IEnumerable<string> known, string what)
    {
        var list = known.ToList();
        var best = list
            .Select(k => (Key: k, Distance: Distance(actual.ToLowerInvariant(), k.ToLowerInvariant())))
            .Where(p => p.Distance <= Math.Max(2, p.Key.Length / 3))
            .OrderBy(p => p.Distance)
            .FirstOrDefault();
        var choices = list.Count == 0 ? $"no {what} is defined" : $"known {what}: {string.Join(", ", list)}";
        return best.Key is null ? $"use one of the known names ({choices})" : $"did you mean '{best.Key}'? ({choices})";
    }

    private static int Distance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            row[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            var previous = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }
        return row[b.Length];
    }
}
