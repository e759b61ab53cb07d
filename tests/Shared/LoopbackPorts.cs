using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SecretlessProxy.Testing;

/// <summary>
/// Picks a loopback TCP port for a server that must be told its port before it starts (redis-server, node,
/// nginx, a restarted process). Ports come from below the kernel's ephemeral range: a port from bind(0) is in
/// that range, and until the server binds it any outgoing connection on the machine may take it as its local
/// port (seen as a load-test baseline failing to bind). Each port is handed out once per process and checked
/// free at the time.
/// </summary>
internal static class LoopbackPorts
{
    private static readonly HashSet<int> Handed = [];
    private static readonly Lock Gate = new();

    public static int Next()
    {
        var ephemeralLow = EphemeralLow();
        var low = Math.Max(1024, ephemeralLow / 2);
        var high = ephemeralLow - 1;
        for (var attempt = 0; attempt < 500; attempt++)
        {
            var port = Random.Shared.Next(low, high + 1);
            lock (Gate)
            {
                if (Handed.Contains(port) || !IsFree(port))
                {
                    continue;
                }
                Handed.Add(port);
                return port;
            }
        }
        throw new InvalidOperationException($"no free loopback port between {low} and {high}");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port of the kernel's ephemeral range (32768 when it cannot be read).</summary>
    private static int EphemeralLow()
    {
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range");
            var first = text.Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries)[0];
            var low = int.Parse(first, CultureInfo.InvariantCulture);
            return low > 4096 ? low : 32768;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }
}
