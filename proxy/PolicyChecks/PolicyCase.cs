namespace SecretlessProxy.PolicyChecks;

/// <summary>One row of a case file: the request to decide and the decision expected (effect, and optionally rule and reason).</summary>
public sealed record PolicyCase(string Name, string Where, PolicyQuery Query, bool ExpectAllow)
{
    /// <summary>The deciding rule expected; <see cref="NoRule"/> for a decision no rule made (default deny); null when not checked.</summary>
    public string? ExpectRule { get; init; }

    /// <summary>The reason code expected (<c>no_rule_matched</c>, <c>grant_required</c>, ...); null when not checked.</summary>
    public string? ExpectReason { get; init; }

    public const string NoRule = "none";
}
