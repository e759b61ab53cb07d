namespace SecretlessProxy.Configuration;

/// <summary>
/// <c>inventory</c>: where the key of the secret fingerprints lives (<c>fingerprintKey</c>: a file of 32 random bytes,
/// created when missing; without it the key is generated and kept sealed in Redis, or in memory for one process), and
/// how often usage is written to Redis (<c>usageFlushInterval</c>).
/// </summary>
public sealed record InventorySettings(string? FingerprintKeyFile, TimeSpan UsageFlushInterval)
{
    public static readonly TimeSpan DefaultFlushInterval = TimeSpan.FromSeconds(10);

    public static readonly InventorySettings Default = new(null, DefaultFlushInterval);
}
