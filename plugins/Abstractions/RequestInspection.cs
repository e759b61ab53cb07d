namespace SecretlessProxy.Abstractions;

/// <summary>
/// What an injector found in a request it is about to put a credential on: a reason to refuse it (a header the
/// credential must not be used to send), or other upstream paths the request reads with the credential (an S3
/// copy source), which the proxy decides by policy as reads before forwarding.
/// </summary>
public readonly record struct RequestInspection
{
    /// <summary>Nothing to object to, nothing else read.</summary>
    public static readonly RequestInspection Pass;

    /// <summary>A stable reason code when the request must be refused (403), else null.</summary>
    public string? Refusal { get; init; }

    /// <summary>Why, naming the header and how a route allows it; never a secret.</summary>
    public string? Detail { get; init; }

    /// <summary>Upstream paths (percent-encoded, as the upstream would read them) the request also reads.</summary>
    public IReadOnlyList<string>? ReadsUpstreamPaths { get; init; }

    /// <summary>A refusal with its reason code and detail.</summary>
    public static RequestInspection Refuse(string reason, string detail) => new() { Refusal = reason, Detail = detail };
}
