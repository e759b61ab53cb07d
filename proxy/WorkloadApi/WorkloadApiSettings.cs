namespace SecretlessProxy.WorkloadApi;

/// <summary>The compiled <c>spiffe.workloadApi</c> section: the agent's socket and how long retries may wait between attempts.</summary>
public sealed record WorkloadApiSettings(string SocketPath, TimeSpan RetryMaxDelay)
{
    /// <summary>The default for <c>retryMaxDelay</c>.</summary>
    public static readonly TimeSpan DefaultRetryMaxDelay = TimeSpan.FromSeconds(30);

    /// <summary>The socket as the config writes it (for messages).</summary>
    public string Address => "unix:" + SocketPath;
}
