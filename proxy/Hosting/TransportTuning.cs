using System.Globalization;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace SecretlessProxy.Hosting;

/// <summary>
/// Socket-transport settings read from the environment at start, like the runtime's own <c>DOTNET_*</c> knobs: they
/// belong to the process, not to the config (a reload cannot change the transport). The platform part of the load
/// test (<c>loadtests/LoadKit/Platform.cs</c>) measures each; docs/performance.md reports what they did.
/// <list type="bullet">
/// <item><c>SECRETLESS_KESTREL_INLINE_SCHEDULING=1</c>: Kestrel runs request processing on the socket's I/O thread
/// instead of queueing it to the thread pool (<see cref="SocketTransportOptions.UnsafePreferInlineScheduling"/>). Pair it
/// with <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>. Code that blocks then stalls every connection of that
/// I/O thread; the proxy's request path does not block.</item>
/// <item><c>SECRETLESS_KESTREL_IO_QUEUES=N</c>: the number of I/O queues (<see cref="SocketTransportOptions.IOQueueCount"/>;
/// default: the processor count, up to 16).</item>
/// </list>
/// </summary>
internal static class TransportTuning
{
    public const string InlineScheduling = "SECRETLESS_KESTREL_INLINE_SCHEDULING";
    public const string IoQueues = "SECRETLESS_KESTREL_IO_QUEUES";

    public static void Apply(IServiceCollection services)
    {
        var inline = Environment.GetEnvironmentVariable(InlineScheduling) is "1" or "true";
        var queues = int.TryParse(Environment.GetEnvironmentVariable(IoQueues), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is > 0 and <= 64 ? n : 0;
        if (!inline && queues == 0)
        {
            return;
        }
        services.Configure<SocketTransportOptions>(o =>
        {
            if (inline)
            {
                o.UnsafePreferInlineScheduling = true;
            }
            if (queues > 0)
            {
                o.IOQueueCount = queues;
            }
        });
    }
}
