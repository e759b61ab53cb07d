namespace SecretlessProxy.Grants;

/// <summary>Where grants are kept so they survive a restart (a local file by default; Redis can implement it too).</summary>
public interface IGrantStore
{
    /// <summary>A description for logs (a path, a key), never a secret.</summary>
    string Location { get; }

    /// <summary>The grants that were saved last; an empty list when none were.</summary>
    Task<IReadOnlyList<Grant>> LoadAsync(CancellationToken cancellationToken);

    /// <summary>Replaces the saved grants with these, atomically: a reader sees the old set or the new one.</summary>
    Task SaveAsync(IReadOnlyList<Grant> grants, CancellationToken cancellationToken);
}
