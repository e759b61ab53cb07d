
namespace SecretlessProxy.Configuration;

/// <summary>What a reload changed, section by section: names added, removed and changed (never values).</summary>
internal static class ConfigChanges
{
    public static List<KeyValuePair<string, object?>> Between(ProxyConfig previous, ProxyConfig next)
    {
        var sections = new List<KeyValuePair<string, object?>>();
        Add(sections, "listeners", Diff(previous.Listeners.ToDictionary(l => l.Name, l => l.BindingKey, StringComparer.OrdinalIgnoreCase),
            next.Listeners.ToDictionary(l => l.Name, l => l.BindingKey, StringComparer.OrdinalIgnoreCase), string.Equals));
        Add(sections, "credentials", Diff(previous.Credentials.ToDictionary(c => c.Key, c => c.Value.Fingerprint + "|" + c.Value.InjectorName, StringComparer.OrdinalIgnoreCase),
            next.Credentials.ToDictionary(c => c.Key, c => c.Value.Fingerprint + "|" + c.Value.InjectorName, StringComparer.OrdinalIgnoreCase), string.Equals));
        Add(sections, "policies", Diff(previous.Policy.Rules.ToDictionary(r => r.Name, r => r.Signature, StringComparer.OrdinalIgnoreCase),
            next.Policy.Rules.ToDictionary(r => r.Name, r => r.Signature, StringComparer.OrdinalIgnoreCase), string.Equals));
        Add(sections, "routes", Diff(previous.Routes.ToDictionary(r => r.RouteId, StringComparer.OrdinalIgnoreCase),
            next.Routes.ToDictionary(r => r.RouteId, StringComparer.OrdinalIgnoreCase), (a, b) => a.Equals(b)));
        Add(sections, "clusters", Diff(previous.Clusters.ToDictionary(c => c.ClusterId, StringComparer.OrdinalIgnoreCase),
            next.Clusters.ToDictionary(c => c.ClusterId, StringComparer.OrdinalIgnoreCase), (a, b) => a.Equals(b)));
        if (previous.DecisionLog != next.DecisionLog)
        {
            sections.Add(new("decisionLog", new List<KeyValuePair<string, object?>> { new("changed", true) }));
        }
        if (!Equals(previous.Cache, next.Cache))
        {
            sections.Add(new("cache", new List<KeyValuePair<string, object?>> { new("changed", true) }));
        }
        return sections;
    }

    private static void Add(List<KeyValuePair<string, object?>> sections, string name, List<KeyValuePair<string, object?>> diff)
    {
        if (diff.Count > 0)
        {
            sections.Add(new(name, diff));
        }
    }

    private static List<KeyValuePair<string, object?>> Diff<T>(Dictionary<string, T> before, Dictionary<string, T> after, Func<T, T, bool> same)
    {
        var added = after.Keys.Where(k => !before.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var removed = before.Keys.Where(k => !after.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var changed = after.Keys.Where(k => before.TryGetValue(k, out var old) && !same(old, after[k])).Order(StringComparer.Ordinal).ToList();
        var result = new List<KeyValuePair<string, object?>>();
        if (added.Count > 0)
        {
            result.Add(new("added", added));
        }
        if (removed.Count > 0)
        {
            result.Add(new("removed", removed));
        }
        if (changed.Count > 0)
        {
            result.Add(new("changed", changed));
        }
        return result;
    }
}
