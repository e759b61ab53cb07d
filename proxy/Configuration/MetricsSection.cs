using SecretlessProxy.Metrics;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>metrics</c>: opt-in, high-cardinality labels.</summary>
internal static class MetricsSection
{
    public static MetricsSettings Compile(ConfigDocument document, ConfigErrorList errors)
    {
        var section = document.Root.GetSection("metrics");
        if (!section.Exists())
        {
            return MetricsSettings.Default;
        }
        ConfigSections.CheckKnownKeys(section, ["identityLabels"], errors, "metrics");
        var identityLabels = false;
        if (ConfigSections.Value(section, "identityLabels") is { } text && !bool.TryParse(text, out identityLabels))
        {
            errors.Add(section.Path + ":identityLabels", "must be true or false", "write identityLabels: true to count requests per caller SPIFFE ID (one series per identity: mind the cardinality)");
        }
        return new MetricsSettings(identityLabels);
    }
}
