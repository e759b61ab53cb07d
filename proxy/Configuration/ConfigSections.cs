using Microsoft.Extensions.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>Small helpers every section compiler uses.</summary>
internal static class ConfigSections
{
    /// <summary>Reports keys under <paramref name="section"/> that are not in <paramref name="known"/>.</summary>
    /// <summary>A top-level section that may be left out: null when absent, else the section with its unknown keys reported.</summary>
    public static IConfigurationSection? Optional(ConfigDocument document, string name, IEnumerable<string> known, ConfigErrorList errors)
    {
        var section = document.Root.GetSection(name);
        if (!section.Exists())
        {
            return null;
        }
        CheckKnownKeys(section, known, errors, name);
        return section;
    }

    public static void CheckKnownKeys(IConfiguration section, IEnumerable<string> known, ConfigErrorList errors, string what)
    {
        var set = new HashSet<string>(known, StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (!set.Contains(child.Key))
            {
                errors.Add(child.Path, $"'{child.Key}' is not a key of {what}", KeySuggestion.Fix(child.Key, set.Order(StringComparer.Ordinal), "keys"), showValue: false);
            }
        }
    }

    /// <summary>The items of a list key; a single scalar counts as a one-item list.</summary>
    public static List<IConfigurationSection> Items(IConfigurationSection section)
    {
        if (section.Value is not null)
        {
            return [section];
        }
        return section.GetChildren().ToList();
    }

    public static string? Value(IConfigurationSection section, string key)
    {
        var value = section[key];
        return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
    }
}
