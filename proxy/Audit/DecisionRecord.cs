namespace SecretlessProxy.Audit;

/// <summary>
/// One allow/deny/error decision about one request, filled in by each stage as the request passes and written
/// once when it ends. Holds names and codes only, never a secret value. New fields can be added freely: the
/// record is written as JSON with named fields.
/// </summary>
public sealed class DecisionRecord
{
    public const string Allow = "allow";
    public const string Deny = "deny";
    public const string Error = "error";

    public DateTimeOffset Time { get; set; }

    public string? RequestId { get; set; }

    public string? Listener { get; set; }

    /// <summary>The caller's SPIFFE ID, or null when it could not be established.</summary>
    public string? Identity { get; set; }

    public string? Route { get; set; }

    public string? Method { get; set; }

    public string? Path { get; set; }

    /// <summary>The policy rule that decided, or null.</summary>
    public string? Rule { get; set; }

    /// <summary><c>allow</c>, <c>deny</c> or <c>error</c>.</summary>
    public string Outcome { get; set; } = Deny;

    /// <summary>A stable reason code (<c>allowed</c>, <c>no_rule_matched</c>, <c>certificate_expired</c>, ...).</summary>
    public string? Reason { get; set; }

    /// <summary>The credential's name (never its value).</summary>
    public string? Credential { get; set; }

    /// <summary>True when the credential came from a static store (a long-lived secret: migration debt).</summary>
    public bool? CredentialStatic { get; set; }

    public int Status { get; set; }
}
