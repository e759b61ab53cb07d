namespace SecretlessProxy.Injection;

/// <summary>
/// Relates the path a caller asked for to the path the route's transforms made of it, so another upstream path
/// the request names (an S3 copy source) can be decided by the policy in the caller's terms.
/// </summary>
internal static class RoutePaths
{
    /// <summary>
    /// The proxy path that would reach <paramref name="otherUpstreamPath"/> the way <paramref name="proxyPath"/>
    /// reached <paramref name="upstreamPath"/>: both share a tail made of whole segments; what precedes it is the
    /// route's prefix on each side. Null when the other path does not start with the upstream prefix.
    /// </summary>
    public static string? ToProxyPath(string proxyPath, string upstreamPath, string otherUpstreamPath)
    {
        var shared = 0;
        while (shared < proxyPath.Length && shared < upstreamPath.Length
            && proxyPath[proxyPath.Length - 1 - shared] == upstreamPath[upstreamPath.Length - 1 - shared])
        {
            shared++;
        }
        // The shared tail must start at a segment boundary on both sides.
        while (shared > 0 && !(proxyPath[proxyPath.Length - shared] == '/' && upstreamPath[upstreamPath.Length - shared] == '/'))
        {
            shared--;
        }
        var proxyPrefix = proxyPath[..^shared];
        var upstreamPrefix = upstreamPath[..^shared].TrimEnd('/');
        if (upstreamPrefix.Length > 0 && !(otherUpstreamPath.StartsWith(upstreamPrefix + "/", StringComparison.Ordinal) || otherUpstreamPath == upstreamPrefix))
        {
            return null;
        }
        return proxyPrefix.TrimEnd('/') + otherUpstreamPath[upstreamPrefix.Length..];
    }
}
