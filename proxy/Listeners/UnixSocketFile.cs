using System.Net.Sockets;
using SecretlessProxy.Identity.Unix;

namespace SecretlessProxy.Listeners;

/// <summary>
/// A Unix socket listener's file: before binding, a stale socket left by a process that died is removed and a live
/// one (another proxy still serving it) is refused; after binding, the configured mode, owner and group are applied.
/// </summary>
public static class UnixSocketFile
{
    /// <summary>Makes <paramref name="path"/> bindable, or throws <see cref="IOException"/> saying why it is not.</summary>
    public static void Prepare(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var directory = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory);
        }
        var type = UnixNative.FileType(path);
        if (type is null)
        {
            return;
        }
        if (type != UnixNative.SocketFileType)
        {
            throw new IOException($"'{path}' exists and is not a socket; refusing to replace it (remove it, or choose another path)");
        }
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"another process is serving the socket '{path}'; refusing to take it over (stop it, or choose another path)");
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported)
            {
                // Nobody accepts on it: a stale file from a process that is gone.
            }
        }
        File.Delete(path);
    }

    /// <summary>Applies the socket file's mode, owner and group; throws <see cref="IOException"/> when that fails.</summary>
    public static void Apply(string path, UnixSocketSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.OwnerUid >= 0 || settings.GroupGid >= 0)
        {
            if (!UnixNative.Chown(path, settings.OwnerUid, settings.GroupGid, out var errno))
            {
                throw new IOException($"cannot change the owner of '{path}' to uid {settings.OwnerUid}, gid {settings.GroupGid} (errno {errno}); the proxy needs to run as root or CAP_CHOWN for socket.owner and socket.group");
            }
        }
        if (settings.Mode is { } mode && !OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }
}
