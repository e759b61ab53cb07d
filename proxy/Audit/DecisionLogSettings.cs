namespace SecretlessProxy.Audit;

/// <summary><c>decisionLog</c>: where decision records go.</summary>
public sealed record DecisionLogSettings(DecisionSink Sink, string? Path)
{
    public static DecisionLogSettings Default { get; } = new(DecisionSink.Stdout, null);
}
