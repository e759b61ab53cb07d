using Microsoft.Extensions.Hosting;
using SecretlessProxy.Configuration;

namespace SecretlessProxy.Postgres;

/// <summary>
/// The start-up sweep of <c>postgres-dynamic</c> and <c>mysql-dynamic</c> credentials (any <see cref="Databases.IExpiredUserSweep"/>): when a config is applied, each such credential not swept
/// yet in this process (by name and settings: a reload that changes the template sweeps for the new one) drops the
/// expired roles its template made (<see cref="DynamicRoleProvider.SweepExpiredAsync"/>), in the background. Roles a
/// crash left behind expire by themselves (VALID UNTIL); this removes them.
/// </summary>
internal sealed class DynamicRoleSweeps(IHostApplicationLifetime lifetime)
{
    private readonly HashSet<string> _swept = new(StringComparer.Ordinal);
    private readonly List<Task<int>> _running = [];
    private readonly Lock _gate = new();

    /// <summary>The sweeps started so far (each gives how many roles it dropped).</summary>
    public IReadOnlyList<Task<int>> Started
    {
        get
        {
            lock (_gate)
            {
                return [.. _running];
            }
        }
    }

    public void Applied(ProxyConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach (var binding in config.Credentials.Values)
        {
            if (binding.Provider is not Databases.IExpiredUserSweep provider)
            {
                continue;
            }
            lock (_gate)
            {
                if (_swept.Add(binding.Name + "\n" + binding.Fingerprint))
                {
                    _running.Add(Task.Run(() => provider.SweepExpiredAsync(lifetime.ApplicationStopping)));
                }
            }
        }
    }
}
