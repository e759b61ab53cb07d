namespace SecretlessProxy.Identity.Unix;

/// <summary>
/// An identity's <c>unix</c> selectors, as SPIRE's unix workload attestor has them: every selector given must match
/// the caller. User and group names are resolved to ids when the config loads.
/// </summary>
public sealed class UnixSelectors
{
    public uint? Uid { get; init; }

    public uint? Gid { get; init; }

    /// <summary>Groups the caller must all be in (primary or supplementary).</summary>
    public IReadOnlyList<uint> SupplementaryGids { get; init; } = [];

    public string? Path { get; init; }

    /// <summary>Lower-case hex.</summary>
    public string? Sha256 { get; init; }

    /// <summary>A prefix of the caller's cgroup path.</summary>
    public string? CgroupPrefix { get; init; }

    public bool NeedsExecutable => Path is not null;

    public bool NeedsHash => Sha256 is not null;

    public bool Matches(PeerProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (Uid is { } uid && process.Uid != uid)
        {
            return false;
        }
        if (Gid is { } gid && process.Gid != gid)
        {
            return false;
        }
        foreach (var group in SupplementaryGids)
        {
            if (!process.InGroup(group))
            {
                return false;
            }
        }
        if (Path is not null && !string.Equals(process.ExecutablePath, Path, StringComparison.Ordinal))
        {
            return false;
        }
        if (Sha256 is not null && !string.Equals(process.Sha256, Sha256, StringComparison.Ordinal))
        {
            return false;
        }
        return CgroupPrefix is null || (process.Cgroup is { } cgroup && cgroup.StartsWith(CgroupPrefix, StringComparison.Ordinal));
    }

    /// <summary>
    /// True when no caller can match both selector sets: some selector both give has values that cannot hold
    /// together. Otherwise one caller could be two identities, which the config refuses.
    /// </summary>
    public bool ExcludesEachOther(UnixSelectors other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return (Uid is { } a && other.Uid is { } b && a != b)
            || (Gid is { } c && other.Gid is { } d && c != d)
            || (Path is not null && other.Path is not null && !string.Equals(Path, other.Path, StringComparison.Ordinal))
            || (Sha256 is not null && other.Sha256 is not null && !string.Equals(Sha256, other.Sha256, StringComparison.Ordinal))
            || (CgroupPrefix is not null && other.CgroupPrefix is not null
                && !CgroupPrefix.StartsWith(other.CgroupPrefix, StringComparison.Ordinal) && !other.CgroupPrefix.StartsWith(CgroupPrefix, StringComparison.Ordinal));
    }

    public override string ToString()
    {
        var parts = new List<string>();
        if (Uid is { } uid)
        {
            parts.Add($"uid {uid}");
        }
        if (Gid is { } gid)
        {
            parts.Add($"gid {gid}");
        }
        foreach (var group in SupplementaryGids)
        {
            parts.Add($"supplementaryGid {group}");
        }
        if (Path is not null)
        {
            parts.Add($"path {Path}");
        }
        if (Sha256 is not null)
        {
            parts.Add($"sha256 {Sha256[..Math.Min(12, Sha256.Length)]}…");
        }
        if (CgroupPrefix is not null)
        {
            parts.Add($"cgroup {CgroupPrefix}*");
        }
        return string.Join(", ", parts);
    }
}
