namespace SecretlessProxy.Approvals;

/// <summary>
/// <c>approvals</c>: how long a grant request waits for an answer, who may approve with an OIDC ID token, and the
/// webhook that announces requests and decisions. Grant requests themselves are on whenever a rule lists
/// <c>approvers</c>; this section only tunes them.
/// </summary>
/// <param name="RequestTtl">How long a request stays pending unanswered before it expires.</param>
/// <param name="MaxPendingPerRequester">How many pending requests one identity may have at once.</param>
/// <param name="Oidc">ID-token approvers, or null when only admin SVIDs and admin uids approve.</param>
/// <param name="Webhook">Where requests and decisions are announced, or null.</param>
public sealed record ApprovalSettings(TimeSpan RequestTtl, int MaxPendingPerRequester, OidcApproverSettings? Oidc, WebhookSettings? Webhook)
{
    public static readonly TimeSpan DefaultRequestTtl = TimeSpan.FromHours(1);

    public const int DefaultMaxPendingPerRequester = 5;

    public static ApprovalSettings Default { get; } = new(DefaultRequestTtl, DefaultMaxPendingPerRequester, null, null);
}

/// <summary><c>approvals.oidc</c>: ID tokens from <paramref name="Issuer"/> for <paramref name="Audience"/>, keys from its discovery document.</summary>
/// <param name="Issuer">The issuer (its <c>/.well-known/openid-configuration</c> names the JWKS).</param>
/// <param name="Audience">The <c>aud</c> the tokens must carry (the client id they were issued to).</param>
/// <param name="NameClaim">The claim that names the approver on the grant.</param>
/// <param name="GroupsClaim">The claim holding the approver's groups (a list or one string).</param>
/// <param name="Timeout">For discovery and JWKS requests.</param>
public sealed record OidcApproverSettings(Uri Issuer, string Audience, string NameClaim, string GroupsClaim, TimeSpan Timeout)
{
    public const string DefaultNameClaim = "email";
    public const string DefaultGroupsClaim = "groups";
}

/// <summary><c>approvals.webhook</c>: a JSON POST per request and decision, with a Slack-compatible <c>text</c>.</summary>
/// <param name="Url">The URL as configured (<c>url</c>), or null when it is read from a file or variable each time.</param>
/// <param name="AddressFile">A file holding the URL (a Slack webhook URL is itself a secret).</param>
/// <param name="AddressVariable">An environment variable holding the URL.</param>
/// <param name="Timeout">Per attempt.</param>
/// <param name="Retries">Attempts after the first, with exponential backoff from 200 ms.</param>
public sealed record WebhookSettings(Uri? Url, string? AddressFile, string? AddressVariable, TimeSpan Timeout, int Retries)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    public const int DefaultRetries = 4;
}
