namespace SecretlessProxy.Grants;

/// <summary>Where grants are kept so they survive a restart: a local file, or Redis when replicas share one.</summary>
public interface IGrantStore
{
    /// <summary>A description for logs (a path, a key), never a secret.</summary>
    string Location { get; }

    /// <summary>True when other replicas may change the grants too, so the service reloads them now and then.</summary>
    bool IsShared { get; }

    /// <summary>The grants that were saved last; an empty list when none were. Throws <see cref="IOException"/> when the store cannot be read.</summary>
    Task<IReadOnlyList<Grant>> LoadAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Records a change: <paramref name="all"/> is the whole set after it, <paramref name="added"/> and
    /// <paramref name="removedIds"/> the change itself (a shared store applies only the change, so replicas changing
    /// grants at once do not undo each other). A reader sees the old set or the new one. Throws <see cref="IOException"/>
    /// when the store cannot be written.
    /// </summary>
    Task SaveAsync(IReadOnlyList<Grant> all, IReadOnlyList<Grant> added, IReadOnlyList<string> removedIds, CancellationToken cancellationToken);
}
