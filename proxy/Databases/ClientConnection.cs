using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace SecretlessProxy.Databases;

/// <summary>What the database gateways do with a client connection they are ending.</summary>
internal static class ClientConnection
{
    /// <summary>
    /// Completes the output (what was written reaches the client), then reads and drops what the client still sends,
    /// at most 1 MiB for at most 2 s: closing a socket with unread input resets it, and the client would lose the error
    /// it was just sent.
    /// </summary>
    public static async Task DrainAsync(PipeReader input, PipeWriter output)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        try
        {
            await output.CompleteAsync();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            long taken = 0;
            while (taken < 1 << 20)
            {
                var result = await input.ReadAsync(deadline.Token);
                taken += result.Buffer.Length;
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException or ConnectionResetException)
        {
            // The client went away or kept sending: the connection closes either way.
        }
    }

    /// <summary>Writes a last message to a client that may be gone already.</summary>
    public static async Task TryWriteAsync(PipeWriter output, byte[] message)
    {
        ArgumentNullException.ThrowIfNull(output);
        try
        {
            await output.WriteAsync(message);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or ObjectDisposedException or ConnectionResetException)
        {
            // The client is gone.
        }
    }
}
