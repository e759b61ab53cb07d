using Microsoft.Extensions.Logging;

namespace SecretlessProxy.WorkloadApi;

/// <summary>
/// One <see cref="WorkloadApiClient"/> per socket for the process: a reload that keeps <c>spiffe.workloadApi</c> keeps
/// its client (and the SVID and bundles in hand). When <paramref name="connect"/> is false (validate, offline compiles)
/// clients are made but never contact the agent, so the socket need not exist.
/// </summary>
public sealed class WorkloadApiConnections(TimeProvider time, ILoggerFactory loggers, bool connect) : IDisposable
{
    private readonly Dictionary<WorkloadApiSettings, WorkloadApiClient> _clients = [];
    private readonly Lock _lock = new();

    public WorkloadApiClient For(WorkloadApiSettings settings)
    {
        lock (_lock)
        {
            if (!_clients.TryGetValue(settings, out var client))
            {
                client = new WorkloadApiClient(settings, time, loggers.CreateLogger<WorkloadApiClient>());
                _clients[settings] = client;
                if (connect)
                {
                    client.Start();
                }
            }
            return client;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var client in _clients.Values)
            {
                client.Dispose();
            }
            _clients.Clear();
        }
    }
}
