namespace SecretlessProxy.Grants;

/// <summary><c>grants</c>: where grants are kept and the longest window one may have.</summary>
public sealed record GrantSettings(string Path, TimeSpan MaxDuration)
{
    public static readonly TimeSpan DefaultMaxDuration = TimeSpan.FromHours(24);
}
