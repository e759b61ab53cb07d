namespace SecretlessProxy.Posture;

/// <summary>
/// Where context facts per identity come from (<c>posture</c>): a watched JSON file or a polled HTTP endpoint, how
/// often it is checked, and how old facts may be before they count as unknown.
/// </summary>
public sealed record PostureSettings(string? FilePath, Uri? Url, TimeSpan PollInterval, TimeSpan MaxAge, TimeSpan Timeout)
{
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The largest document read (file or HTTP answer).</summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    public string Describe => FilePath is not null ? "file " + FilePath : "url " + Url!.GetLeftPart(UriPartial.Path);
}
