namespace SecretlessProxy.Credentials;

/// <summary>
/// A secret class (<c>classes.NAME</c>): a label on credentials (<c>class: NAME</c>) that lets policy say which
/// workloads may use any secret of that class (<see cref="Allow"/>, SPIFFE ID patterns; empty = no limit beyond the
/// routes' rules) and the longest a secret of the class may be cached (<see cref="MaxTtl"/>).
/// </summary>
public sealed record SecretClass(string Name, string? Description, TimeSpan? MaxTtl, IReadOnlyList<Identity.SpiffeIdPattern> Allow, string? Owner, string? Team)
{
    /// <summary>True when <paramref name="id"/> may use secrets of this class.</summary>
    public bool Permits(Identity.SpiffeId id) => Allow.Count == 0 || Allow.Any(p => p.Matches(id));
}
