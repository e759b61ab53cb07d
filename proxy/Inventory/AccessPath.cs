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
    bool? StaticCredential);
