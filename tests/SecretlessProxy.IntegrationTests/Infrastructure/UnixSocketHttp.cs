using System.Net.Sockets;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>An <see cref="HttpClient"/> whose every connection goes to one Unix socket (<c>SocketsHttpHandler.ConnectCallback</c>).</summary>
public static class UnixSocketHttp
{
    public static HttpClient Client(string socketPath, Version? version = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri("http://localhost/"), Timeout = TimeSpan.FromSeconds(20) };
        if (version is not null)
        {
            client.DefaultRequestVersion = version;
            client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        return client;
    }
}
