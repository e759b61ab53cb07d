namespace SecretlessProxy.Audit;

public enum DecisionSink
{
    Stdout,

    /// <summary>A file, rotated by size.</summary>
    File,
    None,
}
