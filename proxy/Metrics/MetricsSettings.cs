namespace SecretlessProxy.Metrics;

/// <summary><c>metrics</c>: opt-in labels that raise cardinality.</summary>
public sealed record MetricsSettings(bool IdentityLabels)
{
    public static MetricsSettings Default { get; } = new(false);
}
