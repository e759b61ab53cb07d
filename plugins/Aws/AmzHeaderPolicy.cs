using System.Collections.Frozen;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// Which client <c>x-amz-*</c> headers a SigV4 route signs. The signature vouches for every header it covers, so
/// signing whatever the caller sent would let it use the proxy's keys for more than the policy allowed: copy
/// another object in (<c>x-amz-copy-source</c>), make one public (<c>x-amz-acl</c>, <c>x-amz-grant-*</c>), lift a
/// retention lock, redirect a website, choose encryption keys. Only headers on the service's list of harmless
/// ones, plus those the route names in <c>inject.allowHeaders</c>, are signed; a request carrying any other is
/// refused. When <c>x-amz-copy-source</c> is allowed, its object is handed back to the proxy, which decides it
/// as a GET of that path.
/// </summary>
public sealed class AmzHeaderPolicy
{
    public const string CopySource = "x-amz-copy-source";

    /// <summary>Reason code: a client x-amz-* header this route does not sign.</summary>
    public const string HeaderNotAllowed = "aws_header_not_allowed";

    /// <summary>Reason code: an x-amz-copy-source that is not a bucket and key.</summary>
    public const string CopySourceInvalid = "aws_copy_source_invalid";

    // Harmless for S3: they describe the object written or how to answer, never another resource or who may access it.
    private static readonly string[] S3Harmless =
    [
        "x-amz-storage-class", "x-amz-tagging", "x-amz-expected-bucket-owner", "x-amz-request-payer", "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-bucket-key-enabled", "x-amz-sdk-checksum-algorithm", "x-amz-checksum-algorithm", "x-amz-checksum-mode",
        "x-amz-checksum-type", "x-amz-decoded-content-length", "x-amz-trailer", "x-amz-user-agent", "x-amz-object-attributes", "x-amz-max-parts",
        "x-amz-part-number-marker", "x-amz-optional-object-attributes", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token",
        "x-amz-api-version", "x-amz-write-offset-bytes", "x-amz-if-match", "x-amz-if-none-match",
    ];

    private static readonly string[] S3HarmlessPrefixes = ["x-amz-meta-", "x-amz-checksum-"];

    // Other services put the operation or invocation style in x-amz-* headers; none of these names a resource.
    private static readonly string[] OtherHarmless =
    [
        "x-amz-target", "x-amz-user-agent", "x-amz-api-version", "x-amz-invocation-type", "x-amz-log-type", "x-amz-client-context",
        "x-amz-sdk-checksum-algorithm", "x-amz-glacier-version", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token",
    ];

    private static readonly string[] OtherHarmlessPrefixes = ["x-amz-checksum-"];

    // Copy conditions only qualify a copy; they come with x-amz-copy-source when a route allows it.
    private static readonly string[] CopyConditions =
    [
        "x-amz-copy-source-if-match", "x-amz-copy-source-if-none-match", "x-amz-copy-source-if-modified-since",
        "x-amz-copy-source-if-unmodified-since", "x-amz-copy-source-range", "x-amz-metadata-directive", "x-amz-tagging-directive",
    ];

    private readonly FrozenSet<string> _allowed;
    private readonly string[] _allowedPrefixes;
    private readonly bool _copySourceAllowed;

    internal AmzHeaderPolicy(bool isS3, IReadOnlyList<string> routeAllowed)
    {
        var allowed = new HashSet<string>(isS3 ? S3Harmless : OtherHarmless, StringComparer.OrdinalIgnoreCase);
        var prefixes = new List<string>(isS3 ? S3HarmlessPrefixes : OtherHarmlessPrefixes);
        foreach (var name in routeAllowed)
        {
            if (name.EndsWith('*'))
            {
                prefixes.Add(name[..^1]);
            }
            else
            {
                allowed.Add(name);
            }
        }
        _copySourceAllowed = allowed.Contains(CopySource);
        if (_copySourceAllowed)
        {
            allowed.UnionWith(CopyConditions);
        }
        _allowed = allowed.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        _allowedPrefixes = [.. prefixes];
    }

    /// <summary>A config error for an <c>allowHeaders</c> entry, or null when it is usable.</summary>
    internal static string? Problem(string name)
    {
        if (!name.StartsWith("x-amz-", StringComparison.OrdinalIgnoreCase) || name.Length <= "x-amz-".Length)
        {
            return "is not an x-amz-* header name (other headers are forwarded unsigned and need no allowing)";
        }
        if (SigV4Injector.SignatureHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
        {
            return "is a header the signature itself sets; a caller's copy is always replaced";
        }
        var body = name.EndsWith('*') ? name[..^1] : name;
        foreach (var c in body)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return "holds a character a header name cannot have (use letters, digits and '-', optionally ending in '*')";
            }
        }
        return null;
    }

    internal RequestInspection Inspect(IForwardedRequest request)
    {
        List<string>? reads = null;
        foreach (var (name, value) in request.Headers)
        {
            if (!name.StartsWith("x-amz-", StringComparison.OrdinalIgnoreCase) || IsAllowed(name))
            {
                if (_copySourceAllowed && name.Equals(CopySource, StringComparison.OrdinalIgnoreCase))
                {
                    if (CopySourcePath(value) is not { } path)
                    {
                        return RequestInspection.Refuse(CopySourceInvalid,
                            "the x-amz-copy-source header is not a /bucket/key path; the proxy cannot decide what it reads, so the request is refused");
                    }
                    (reads ??= []).Add(path);
                }
                continue;
            }
            return RequestInspection.Refuse(HeaderNotAllowed,
                $"the request carries '{name.ToLowerInvariant()}', which {What(name)}; the proxy signs only x-amz-* headers that are harmless for this service or that the route names in inject.allowHeaders");
        }
        return reads is null ? RequestInspection.Pass : new RequestInspection { ReadsUpstreamPaths = reads };
    }

    private bool IsAllowed(string name)
    {
        if (_allowed.Contains(name))
        {
            return true;
        }
        foreach (var prefix in _allowedPrefixes)
        {
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary><c>/bucket/key?versionId=v</c> or <c>bucket/key</c> → <c>/bucket/key</c> (still percent-encoded), or null.</summary>
    internal static string? CopySourcePath(string value)
    {
        var text = value.Trim();
        var query = text.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            text = text[..query];
        }
        if (text.StartsWith('/'))
        {
            text = text[1..];
        }
        // An access point or outpost ARN names a resource by other means: not a path the policy can read.
        if (text.Length == 0 || text.StartsWith("arn:", StringComparison.OrdinalIgnoreCase) || !text.Contains('/', StringComparison.Ordinal))
        {
            return null;
        }
        return "/" + text;
    }

    private static string What(string name)
    {
        var lower = name.ToLowerInvariant();
        return lower switch
        {
            _ when lower.StartsWith(CopySource, StringComparison.Ordinal) => "makes S3 read another object with the proxy's keys",
            "x-amz-acl" or "x-amz-grant-read" or "x-amz-grant-write" or "x-amz-grant-read-acp" or "x-amz-grant-write-acp" or "x-amz-grant-full-control" => "changes who may access the object",
            _ when lower.StartsWith("x-amz-grant-", StringComparison.Ordinal) => "changes who may access the object",
            "x-amz-bypass-governance-retention" => "lifts an object lock",
            _ when lower.StartsWith("x-amz-object-lock-", StringComparison.Ordinal) => "sets an object lock",
            "x-amz-website-redirect-location" => "redirects the object's website address elsewhere",
            _ when lower.StartsWith("x-amz-server-side-encryption-", StringComparison.Ordinal) => "chooses encryption keys",
            _ => "is not on the list of headers this route signs",
        };
    }
}
