namespace SecretlessProxy.Audit;

/// <summary><c>decisionLog</c>: where audit records go, how the file rotates and how many records may wait.</summary>
public sealed record DecisionLogSettings(DecisionSink Sink, string? Path)
{
    public const long DefaultMaxFileBytes = 100L * 1024 * 1024;
    public const int DefaultMaxFiles = 5;
    public const int DefaultQueueCapacity = 10_000;

    public static DecisionLogSettings Default { get; } = new(DecisionSink.Stdout, null);

    /// <summary>The file is rotated before it would grow past this size.</summary>
    public long MaxFileBytes { get; init; } = DefaultMaxFileBytes;

    /// <summary>Rotated files kept besides the current one (<c>FILE.1</c> is the newest).</summary>
    public int MaxFiles { get; init; } = DefaultMaxFiles;

    /// <summary>Records that may wait for the sink; beyond that they are dropped and counted.</summary>
    public int QueueCapacity { get; init; } = DefaultQueueCapacity;
}
