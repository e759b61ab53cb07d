using SecretlessProxy.Metrics;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>metrics</c>: opt-in, high-cardinality labels.</summary>
internal static class MetricsSection
{
    public static MetricsSettings Compile(ConfigDocument document, ConfigErrorList errors)
    {
        if (ConfigSections.Optional(document, "metrics", ["identityLabels"], errors) is not { } section)
        {
            return MetricsSettings.Default;
        }
        var identityLabels = false;
        if (ConfigSections.Value(section, "identityLabels") is { } text && !bool.TryParse(text, out identityLabels))
        {
            errors.Add(section.Path + ":identityLabels", "must be true or false", "write identityLabels: true to count requests per caller SPIFFE ID (one series per identity: mind the cardinality)");
        }
        return new MetricsSettings(identityLabels);
    }
}
