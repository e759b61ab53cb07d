namespace SecretlessProxy.Grants;

/// <summary>A request to approve a grant, as read from <c>POST /grants</c>.</summary>
public sealed record GrantRequest(string? Identity, string? Route, string? Credential, DateTimeOffset? From, TimeSpan? Duration, DateTimeOffset? Until,
    string? Approver, string? Reason, string? CreatedBy);
