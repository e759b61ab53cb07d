using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace SecretlessProxy.Listeners;

/// <summary>
/// Bytes both ways between two duplex pipes until either side closes, errs or <paramref name="cancellationToken"/>
/// fires; then the other direction is stopped too. Used where the proxy relays opaquely: the database gateways after
/// login, pass-through tunnels after CONNECT.
/// </summary>
public static class DuplexRelay
{
    /// <summary>Relays; returns the bytes sent each way (client → upstream, upstream → client).</summary>
    public static async Task<(long Up, long Down)> RunAsync(PipeReader clientIn, PipeWriter clientOut, PipeReader upstreamIn, PipeWriter upstreamOut, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(clientIn);
        ArgumentNullException.ThrowIfNull(clientOut);
        ArgumentNullException.ThrowIfNull(upstreamIn);
        ArgumentNullException.ThrowIfNull(upstreamOut);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var up = PumpAsync(clientIn, upstreamOut, stop.Token);
        var down = PumpAsync(upstreamIn, clientOut, stop.Token);
        await Task.WhenAny(up, down);
        await stop.CancelAsync();
        return (await up, await down);
    }

    private static async Task<long> PumpAsync(PipeReader from, PipeWriter to, CancellationToken cancellationToken)
    {
        long total = 0;
        try
        {
            while (true)
            {
                var result = await from.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    to.Write(segment.Span);
                }
                total += buffer.Length;
                from.AdvanceTo(buffer.End);
                var flushed = await to.FlushAsync(cancellationToken);
                if (result.IsCompleted || flushed.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionResetException or ObjectDisposedException or InvalidOperationException)
        {
            // One side went away; the session ends.
        }
        return total;
    }
}
