namespace SecretlessProxy.Databases;

/// <summary>
/// A provider that makes database users per caller (<c>postgres-dynamic</c>, <c>mysql-dynamic</c>) and can drop the ones
/// its template made whose lifetime has passed: the start-up sweep calls it once per credential and settings.
/// </summary>
public interface IExpiredUserSweep
{
    /// <summary>Drops expired users this credential's template made; returns how many. Logs what it did; never throws.</summary>
    Task<int> SweepExpiredAsync(CancellationToken cancellationToken);
}
