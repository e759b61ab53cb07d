namespace SecretlessProxy.Inventory;

/// <summary>One access path the policy opens or closes: who (an ID or pattern), which route, by which rule, on what conditions, with which credential.</summary>
public sealed record AccessPath(
    string Identity,
    string? IdentityName,
    string Route,
    string Rule,
    bool IsDeny,
    string? Methods,
    string? Paths,
    string? Schedule,
    bool RequiresGrant,
    string? Credential,
    string? Provider,
    bool? StaticCredential)
{
    /// <summary>Owner and team of the identity (or pattern), from <c>identities</c>.</summary>
    public Configuration.Ownership IdentityOwners { get; init; } = Configuration.Ownership.None;

    /// <summary>Owner and team of the route (<c>Metadata: { Owner, Team }</c>).</summary>
    public Configuration.Ownership RouteOwners { get; init; } = Configuration.Ownership.None;

    /// <summary>Owner and team of the credential.</summary>
    public Configuration.Ownership CredentialOwners { get; init; } = Configuration.Ownership.None;

    /// <summary>The credential's store (a name under <c>stores</c>, or <c>inline:…</c>) and class.</summary>
    public string? Store { get; init; }

    public string? Class { get; init; }

    /// <summary>True when the identity, the route or the credential is owned by <paramref name="owner"/>/<paramref name="team"/>.</summary>
    public bool OwnedBy(string? owner, string? team) => IdentityOwners.Matches(owner, team) && (IdentityOwners.Owner is not null || IdentityOwners.Team is not null)
        || RouteOwners.Matches(owner, team) && (RouteOwners.Owner is not null || RouteOwners.Team is not null)
        || CredentialOwners.Matches(owner, team) && (CredentialOwners.Owner is not null || CredentialOwners.Team is not null);
}
