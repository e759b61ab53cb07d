using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace SecretlessProxy.Postgres;

/// <summary>
/// Cancel keys: each client session gets a key of the proxy's own (a random pid and secret), mapped to its upstream
/// backend's key and address. A <c>CancelRequest</c> with a known key is forwarded to that backend, never another;
/// an unknown key is dropped silently, as PostgreSQL does. Entries live as long as their session.
/// </summary>
internal sealed class CancelRegistry
{
    private readonly ConcurrentDictionary<long, CancelTarget> _targets = new();

    public (int Pid, int Secret) Register(CancelTarget target)
    {
        Span<byte> random = stackalloc byte[8];
        while (true)
        {
            RandomNumberGenerator.Fill(random);
            var pid = BitConverter.ToInt32(random) & int.MaxValue;
            var secret = BitConverter.ToInt32(random[4..]);
            if (pid != 0 && _targets.TryAdd(Key(pid, secret), target))
            {
                return (pid, secret);
            }
        }
    }

    public void Remove(int pid, int secret) => _targets.TryRemove(Key(pid, secret), out _);

    public int Count => _targets.Count;

    /// <summary>Forwards a cancel to the backend that key maps to; false (and nothing sent) for an unknown key.</summary>
    public async Task<bool> CancelAsync(int pid, int secret, CancellationToken cancellationToken)
    {
        if (!_targets.TryGetValue(Key(pid, secret), out var target))
        {
            return false;
        }
        using var socket = await UpstreamLogin.ConnectSocketAsync(target.Host, target.Port, target.ConnectTimeout, cancellationToken);
        using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(PgWire.CancelRequest(target.BackendPid, target.BackendSecret), cancellationToken);
        await stream.FlushAsync(cancellationToken);
        // The server closes the connection once it has read the request; waiting for that keeps the cancel ordered.
        var buffer = new byte[1];
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(target.ConnectTimeout);
        try
        {
            _ = await stream.ReadAsync(buffer, wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The server did not close in time; the request was delivered.
        }
        return true;
    }

    private static long Key(int pid, int secret) => ((long)pid << 32) | (uint)secret;
}

/// <summary>Where a session's cancel goes: the upstream's address and its backend key.</summary>
internal sealed record CancelTarget(string Host, int Port, int BackendPid, int BackendSecret, TimeSpan ConnectTimeout);
