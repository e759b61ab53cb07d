using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>Bytes no well-behaved client would send: written to a TCP port as they are, everything the server answers read until it closes.</summary>
public static class RawConnection
{
    public static async Task<string> ExchangeAsync(int port, byte[] request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(request);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (IOException)
        {
            // a reset after the answer
        }
        return Encoding.ASCII.GetString(received.ToArray());
    }
}
