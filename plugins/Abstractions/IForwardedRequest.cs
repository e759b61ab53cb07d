namespace SecretlessProxy.Abstractions;

/// <summary>What an injector may read of a request before it is forwarded (route transforms applied).</summary>
public interface IForwardedRequest
{
    /// <summary>The HTTP method.</summary>
    string Method { get; }

    /// <summary>The path the upstream will receive (after the route's transforms), percent-encoded as sent.</summary>
    string UpstreamPath { get; }

    /// <summary>Every request header the caller sent that will be forwarded (credential headers already removed).</summary>
    IEnumerable<KeyValuePair<string, string>> Headers { get; }
}
