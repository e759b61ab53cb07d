using System.Runtime.InteropServices;

namespace SecretlessProxy.Identity.Unix;

/// <summary>
/// The few libc calls the BCL lacks: <c>statx</c> (device, inode and mtime of a file, to tell whether a running
/// executable is still the file at its path and to key the hash cache), <c>chown</c> (a socket file's owner), and the
/// NSS lookups of user and group names (so LDAP or sssd users resolve as the system resolves them). <c>struct statx</c>
/// has one layout on every architecture, which is why it is used rather than <c>stat</c>.
/// </summary>
internal static partial class UnixNative
{
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;
    private static readonly Lock NssLock = new();

    /// <summary>Device, inode, size and modification time of a file (symbolic links followed), or null with the errno.</summary>
    public static unsafe FileIdentity? Stat(string path, out int errno)
    {
        var buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, 0, StatxBasicStats, buffer) != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        errno = 0;
        var span = new ReadOnlySpan<byte>(buffer, 256);
        return new FileIdentity(
            DeviceMajor: BitConverter.ToUInt32(span[136..]),
            DeviceMinor: BitConverter.ToUInt32(span[140..]),
            Inode: BitConverter.ToUInt64(span[32..]),
            Size: BitConverter.ToUInt64(span[40..]),
            MtimeSeconds: BitConverter.ToInt64(span[112..]),
            MtimeNanoseconds: BitConverter.ToUInt32(span[120..]));
    }

    /// <summary>The S_IFMT bits of a socket.</summary>
    public const int SocketFileType = 0xC000;

    /// <summary>The file-type bits (S_IFMT) of a path itself (a link is not followed), or null when nothing is there.</summary>
    public static unsafe int? FileType(string path)
    {
        const int AtSymlinkNoFollow = 0x100;
        var buffer = stackalloc byte[256];
        if (Statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            return null;
        }
        return BitConverter.ToUInt16(new ReadOnlySpan<byte>(buffer + 28, 2)) & 0xF000;
    }

    /// <summary>Changes a file's owner and group (-1 keeps one); false with the errno on failure.</summary>
    public static bool Chown(string path, int uid, int gid, out int errno)
    {
        var ok = ChownNative(path, unchecked((uint)uid), unchecked((uint)gid)) == 0;
        errno = ok ? 0 : Marshal.GetLastPInvokeError();
        return ok;
    }

    /// <summary>The uid of a user name (through NSS), or null.</summary>
    public static uint? UserId(string name)
    {
        lock (NssLock)
        {
            var entry = GetPwNam(name);
            // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; ... }
            return entry == IntPtr.Zero ? null : unchecked((uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size));
        }
    }

    /// <summary>The gid of a group name (through NSS), or null.</summary>
    public static uint? GroupId(string name)
    {
        lock (NssLock)
        {
            var entry = GetGrNam(name);
            // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; char **gr_mem; }
            return entry == IntPtr.Zero ? null : unchecked((uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size));
        }
    }

    /// <summary>The user name of a uid (through NSS), or null.</summary>
    public static string? UserName(uint uid)
    {
        lock (NssLock)
        {
            var entry = GetPwUid(uid);
            return entry == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(entry));
        }
    }

    /// <summary>Clock ticks per second, the unit of <c>/proc/PID/stat</c>'s start time.</summary>
    public static long ClockTicksPerSecond { get; } = SysConf(2) is var ticks and > 0 ? ticks : 100;

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "chown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int ChownNative(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetPwNam(string name);

    [LibraryImport("libc", EntryPoint = "getgrnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetGrNam(string name);

    [LibraryImport("libc", EntryPoint = "getpwuid")]
    private static partial IntPtr GetPwUid(uint uid);

    /// <summary>The real uid of this process.</summary>
    public static uint CurrentUid() => GetUid();

    [LibraryImport("libc", EntryPoint = "getuid")]
    private static partial uint GetUid();

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long SysConf(int name);
}

/// <summary>What identifies a file's content on disk: device, inode, size and modification time.</summary>
internal readonly record struct FileIdentity(uint DeviceMajor, uint DeviceMinor, ulong Inode, ulong Size, long MtimeSeconds, uint MtimeNanoseconds)
{
    public bool SameFile(FileIdentity other) => DeviceMajor == other.DeviceMajor && DeviceMinor == other.DeviceMinor && Inode == other.Inode;
}
