using System.Collections.Frozen;

namespace SecretlessProxy.Configuration;

/// <summary>
/// What a route's metadata says about the request and response around the credential: which method and URL
/// override headers it keeps (all are stripped otherwise) and whether the injected value is masked in response
/// bodies as well as in the response's link headers.
/// </summary>
public sealed class RouteSecurity
{
    /// <summary>Headers that make an upstream framework use another method or path; stripped inbound unless a route keeps them.</summary>
    public static readonly IReadOnlyList<string> OverrideHeaders = ["X-Original-URL", "X-Rewrite-URL", "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"];

    public static readonly RouteSecurity Default = new(FrozenSet<string>.Empty, redactBody: false, DefaultRedactBodyScanBytes);

    public static readonly RouteSecurity RedactingDefault = new(FrozenSet<string>.Empty, redactBody: true, DefaultRedactBodyScanBytes);

    /// <summary>How much of a response body is scanned for the injected value by default (bytes).</summary>
    public const long DefaultRedactBodyScanBytes = 1024 * 1024;

    public RouteSecurity(FrozenSet<string> keptHeaders, bool redactBody, long redactBodyScanBytes)
    {
        KeptHeaders = keptHeaders;
        RedactBody = redactBody;
        RedactBodyScanBytes = redactBodyScanBytes;
        Stripped = [.. OverrideHeaders.Where(h => !keptHeaders.Contains(h))];
    }

    /// <summary>Override headers this route forwards (case-insensitive names).</summary>
    public FrozenSet<string> KeptHeaders { get; }

    /// <summary>The override headers removed from every inbound request on this route.</summary>
    public string[] Stripped { get; }

    /// <summary>Mask the injected credential in response bodies (the link headers are always masked).</summary>
    public bool RedactBody { get; }

    /// <summary>How many bytes of each response body are scanned; the rest streams through unscanned.</summary>
    public long RedactBodyScanBytes { get; }
}
