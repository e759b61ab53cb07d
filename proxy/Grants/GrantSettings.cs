namespace SecretlessProxy.Grants;

/// <summary>Where grants are kept.</summary>
public enum GrantStoreKind
{
    /// <summary>A local JSON file (<see cref="GrantSettings.Path"/>).</summary>
    File,

    /// <summary>The Redis of <c>cache.redis</c>, shared by replicas.</summary>
    Redis,
}

/// <summary><c>grants</c>: where grants are kept and the longest window one may have.</summary>
public sealed record GrantSettings(string Path, TimeSpan MaxDuration, GrantStoreKind Store = GrantStoreKind.File)
{
    public static readonly TimeSpan DefaultMaxDuration = TimeSpan.FromHours(24);
}
