using System.Globalization;
using System.Text.RegularExpressions;

namespace SecretlessProxy.Identity.Unix;

/// <summary>
/// What the kernel says about the process at the other end of a Unix socket, read once when the connection was
/// accepted: <c>SO_PEERCRED</c> (pid, uid, gid), then from <c>/proc/PID</c> the supplementary groups, the cgroup, and
/// (when some identity selects on them) the executable's path and SHA-256. Never key material.
/// </summary>
public sealed partial class PeerProcess
{
    public required int Pid { get; init; }

    public required uint Uid { get; init; }

    public required uint Gid { get; init; }

    public IReadOnlyList<uint> SupplementaryGids { get; init; } = [];

    /// <summary>The running executable's path; null when it was not read (or could not be).</summary>
    public string? ExecutablePath { get; init; }

    /// <summary>Lower-case hex SHA-256 of the running executable; null when not computed.</summary>
    public string? Sha256 { get; init; }

    /// <summary>Why the executable could not be read (permissions), for the refusal's detail; null otherwise.</summary>
    public string? ExecutableProblem { get; init; }

    /// <summary>The process's cgroup path (the cgroup v2 entry, else the first one), or null.</summary>
    public string? Cgroup { get; init; }

    /// <summary>The process's start time in clock ticks since boot (<c>/proc/PID/stat</c> field 22).</summary>
    public long StartTime { get; init; }

    /// <summary>True when the process is in the group, as its primary group or a supplementary one.</summary>
    public bool InGroup(uint gid)
    {
        if (Gid == gid)
        {
            return true;
        }
        foreach (var g in SupplementaryGids)
        {
            if (g == gid)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The facts an identity built from this caller carries (policy <c>when</c>, audit, inventory).</summary>
    public Dictionary<string, string> Facts()
    {
        var facts = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["uid"] = Uid.ToString(CultureInfo.InvariantCulture),
            ["gid"] = Gid.ToString(CultureInfo.InvariantCulture),
            ["pid"] = Pid.ToString(CultureInfo.InvariantCulture),
        };
        if (ExecutablePath is not null)
        {
            facts["path"] = ExecutablePath;
        }
        if (Sha256 is not null)
        {
            facts["sha256"] = Sha256;
        }
        if (Cgroup is not null)
        {
            facts["cgroup"] = Cgroup;
            if (PodUid().Match(Cgroup) is { Success: true } pod)
            {
                facts["podUid"] = pod.Groups[1].Value.Replace('_', '-');
            }
            if (ContainerId().Match(Cgroup) is { Success: true } container)
            {
                facts["containerId"] = container.Groups[1].Value;
            }
        }
        return facts;
    }

    /// <summary>What a refusal may say about the caller: the uid and the executable's path, never more.</summary>
    public string Describe() => ExecutablePath is not null
        ? $"uid {Uid}, executable {ExecutablePath}"
        : ExecutableProblem is not null ? $"uid {Uid}, executable unreadable ({ExecutableProblem})" : $"uid {Uid}";

    // Kubernetes: .../kubepods-burstable-pod0b5c…_…_….slice/... (systemd driver, '_' for '-') or .../pod0b5c…-…/... (cgroupfs).
    [GeneratedRegex(@"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})", RegexOptions.CultureInvariant)]
    private static partial Regex PodUid();

    // containerd, CRI-O and Docker name the container's scope by its 64-hex id.
    [GeneratedRegex(@"(?:^|[/\-:])([0-9a-f]{64})(?:\.scope)?(?:/|$)", RegexOptions.CultureInvariant)]
    private static partial Regex ContainerId();
}
