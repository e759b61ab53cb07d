namespace SecretlessProxy.Policy;

/// <summary>
/// What a posture source said about one identity (<c>posture: compliant</c>, <c>env: prod</c>) and when the source
/// delivered it. Policy is given these only while they are fresh; stale or missing facts reach it as null (unknown).
/// </summary>
public sealed class ContextFacts(IReadOnlyDictionary<string, string> values, DateTimeOffset asOf)
{
    public IReadOnlyDictionary<string, string> Values { get; } = values;

    /// <summary>When the source last delivered these facts (the proxy's clock).</summary>
    public DateTimeOffset AsOf { get; } = asOf;
}
