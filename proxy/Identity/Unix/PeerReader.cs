using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Identity.Unix;

/// <summary>What to read about a peer beyond its credentials (only what some identity's selectors need).</summary>
public readonly record struct PeerReadOptions(bool Executable, bool Hash);

/// <summary>
/// Reads a Unix socket peer at accept: <c>SO_PEERCRED</c>, then <c>/proc/PID</c>. Guards the PID-reuse race by
/// the process's start time: a process that started after the connection was accepted cannot be the one that
/// connected, and a start time that changes while <c>/proc</c> is read means the PID now names another process.
/// An executable that was replaced or deleted on disk after the process started is refused: what runs is no longer
/// what the path names. Executable hashes are computed once per device, inode, size and mtime.
/// </summary>
public static class PeerReader
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;
    private const int MaxCachedHashes = 1024;

    private static readonly ConcurrentDictionary<FileIdentity, string> Hashes = new();

    /// <summary>The peer process, or the refusal (a catalog reason and a detail) when it cannot be attested.</summary>
    public static (PeerProcess? Process, Attestation? Refusal) Read(Socket socket, PeerReadOptions options)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Span<byte> credentials = stackalloc byte[12];
        int length;
        try
        {
            length = socket.GetRawSocketOption(SolSocket, SoPeerCred, credentials);
        }
        catch (SocketException ex)
        {
            return (null, Attestation.Refused(RefusalCatalog.PeerCredentialsUnavailable.Reason, $"the kernel gave no peer credentials for this socket ({ex.SocketErrorCode})"));
        }
        if (length < 12)
        {
            return (null, Attestation.Refused(RefusalCatalog.PeerCredentialsUnavailable.Reason, "the kernel gave no peer credentials for this socket"));
        }
        var pid = BitConverter.ToInt32(credentials);
        var uid = BitConverter.ToUInt32(credentials[4..]);
        var gid = BitConverter.ToUInt32(credentials[8..]);
        return ReadProcess(pid, uid, gid, AcceptedAt(), options);
    }

    /// <summary>Now, in clock ticks since boot (the unit of a process's start time).</summary>
    internal static long AcceptedAt()
    {
        var uptime = File.ReadAllText("/proc/uptime");
        var seconds = double.Parse(uptime.AsSpan(0, uptime.IndexOf(' ', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
        return (long)Math.Ceiling(seconds * UnixNative.ClockTicksPerSecond);
    }

    internal static (PeerProcess? Process, Attestation? Refusal) ReadProcess(int pid, uint uid, uint gid, long acceptedAt, PeerReadOptions options)
    {
        var procDir = "/proc/" + pid.ToString(CultureInfo.InvariantCulture);
        if (pid <= 0 || StartTime(procDir) is not { } started)
        {
            return (null, Gone(pid));
        }
        // One tick of slack: /proc/uptime and the start time are rounded differently.
        if (started > acceptedAt + 1)
        {
            return (null, Changed(pid, "started after the connection was accepted"));
        }
        var groups = SupplementaryGroups(procDir);
        var cgroup = CgroupOf(procDir);
        string? path = null;
        string? sha256 = null;
        string? problem = null;
        if (options.Executable || options.Hash)
        {
            var exe = procDir + "/exe";
            string? target;
            try
            {
                target = new FileInfo(exe).LinkTarget;
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                target = null;
                problem = ex is UnauthorizedAccessException
                    ? "permission denied: the proxy needs to run as root or with CAP_SYS_PTRACE to read other users' executables"
                    : "the process exited";
            }
            if (target is not null)
            {
                if (target.EndsWith(" (deleted)", StringComparison.Ordinal))
                {
                    return (null, Replaced(pid, target[..^" (deleted)".Length]));
                }
                var running = UnixNative.Stat(exe, out _);
                var onDisk = UnixNative.Stat(target, out _);
                if (running is null)
                {
                    return (null, Gone(pid));
                }
                if (onDisk is null || !running.Value.SameFile(onDisk.Value))
                {
                    return (null, Replaced(pid, target));
                }
                path = target;
                if (options.Hash)
                {
                    sha256 = HashOf(exe, running.Value);
                    if (sha256 is null)
                    {
                        return (null, Gone(pid));
                    }
                }
            }
        }
        if (StartTime(procDir) != started)
        {
            return (null, Changed(pid, "its PID was reused while it was being read"));
        }
        return (new PeerProcess
        {
            Pid = pid,
            Uid = uid,
            Gid = gid,
            SupplementaryGids = groups,
            ExecutablePath = path,
            Sha256 = sha256,
            ExecutableProblem = problem,
            Cgroup = cgroup,
            StartTime = started,
        }, null);
    }

    private static string? HashOf(string exe, FileIdentity file)
    {
        if (Hashes.TryGetValue(file, out var known))
        {
            return known;
        }
        byte[] digest;
        try
        {
            // /proc/PID/exe opens the very file the process runs, even if the path was since replaced.
            using var stream = new FileStream(exe, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            digest = SHA256.HashData(stream);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var hex = Convert.ToHexStringLower(digest);
        if (Hashes.Count >= MaxCachedHashes)
        {
            Hashes.Clear();
        }
        Hashes[file] = hex;
        return hex;
    }

    /// <summary>Field 22 of <c>/proc/PID/stat</c> (the fields after the command name, which may hold spaces and ')').</summary>
    private static long? StartTime(string procDir)
    {
        string stat;
        try
        {
            stat = File.ReadAllText(procDir + "/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        var rest = stat.AsSpan(stat.LastIndexOf(')') + 1).Trim();
        // rest starts at field 3 (state); field 22 is the 20th field from here.
        for (var field = 3; field < 22; field++)
        {
            var space = rest.IndexOf(' ');
            if (space < 0)
            {
                return null;
            }
            rest = rest[(space + 1)..];
        }
        var end = rest.IndexOf(' ');
        return long.TryParse(end < 0 ? rest : rest[..end], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
    }

    private static List<uint> SupplementaryGroups(string procDir)
    {
        var result = new List<uint>();
        try
        {
            foreach (var line in File.ReadLines(procDir + "/status"))
            {
                if (!line.StartsWith("Groups:", StringComparison.Ordinal))
                {
                    continue;
                }
                foreach (var part in line["Groups:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
                {
                    if (uint.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
                    {
                        result.Add(gid);
                    }
                }
                break;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The process exited; the start-time check after the reads refuses it.
        }
        return result;
    }

    private static string? CgroupOf(string procDir)
    {
        try
        {
            string? first = null;
            foreach (var line in File.ReadLines(procDir + "/cgroup"))
            {
                // hierarchy-ID:controllers:path; cgroup v2 is "0::/path".
                var second = line.IndexOf(':', line.IndexOf(':', StringComparison.Ordinal) + 1);
                if (second < 0)
                {
                    continue;
                }
                var path = line[(second + 1)..];
                if (line.StartsWith("0::", StringComparison.Ordinal))
                {
                    return path;
                }
                first ??= path;
            }
            return first;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static Attestation Gone(int pid) => Attestation.Refused(RefusalCatalog.PeerProcessChanged.Reason,
        $"the calling process (pid {pid}) exited before it could be attested");

    private static Attestation Changed(int pid, string what) => Attestation.Refused(RefusalCatalog.PeerProcessChanged.Reason,
        $"the process now at pid {pid} is not the one that connected: it {what}");

    private static Attestation Replaced(int pid, string path) => Attestation.Refused(RefusalCatalog.ExecutableReplaced.Reason,
        $"the executable of pid {pid} ({path}) was replaced or deleted on disk after the process started");
}
