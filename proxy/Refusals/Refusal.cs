namespace SecretlessProxy.Refusals;

/// <summary>
/// One kind of refusal: the HTTP status, the stable reason code clients and dashboards key on, the problem's title,
/// the outcome the audit record gets, where it can happen, and the <c>Retry-After</c> it carries (if any).
/// Every refusal the proxy writes is an entry of <see cref="RefusalCatalog"/>.
/// </summary>
public sealed record Refusal(int Status, string Reason, string Title, string AuditOutcome, RefusalScope Scope = RefusalScope.Proxy)
{
    public const string Deny = "deny";
    public const string Error = "error";

    /// <summary>Seconds to put in <c>Retry-After</c> (503s), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>The SQLSTATE of the <c>ErrorResponse</c> a database client gets (entries with <see cref="RefusalScope.Database"/>).</summary>
    public string? SqlState { get; init; }
}
