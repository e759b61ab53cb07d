namespace SecretlessProxy.Abstractions;

/// <summary>
/// The request exactly as it leaves for the upstream: after every route transform, with the destination
/// chosen (its host in <see cref="Url"/>) and the path and query YARP builds. Injectors that set
/// <see cref="ICredentialInjector.SignsRequest"/> receive this in <see cref="IPreparedInjection.Apply"/>, so
/// they can read what they sign and sign what is sent.
/// </summary>
public interface ISignableRequest : IOutboundRequest
{
    /// <summary>The HTTP method, e.g. <c>GET</c>.</summary>
    string Method { get; }

    /// <summary>The absolute URL the request goes to (scheme, the chosen destination's host and port, path, query).</summary>
    Uri Url { get; }

    /// <summary>
    /// The value of the <c>Host</c> header the upstream will see: a Host set by a transform or the destination's
    /// <c>Host</c> setting, else the authority of <see cref="Url"/>.
    /// </summary>
    string Host { get; }

    /// <summary>Every request and content header as sent, one pair per value (repeated names allowed).</summary>
    IEnumerable<KeyValuePair<string, string>> Headers { get; }

    /// <summary>
    /// The lowercase hex SHA-256 of the request body, when the injector asked for it
    /// (<see cref="ICredentialInjector.PayloadHashLimit"/> above zero); otherwise null.
    /// </summary>
    string? PayloadSha256 { get; }

    /// <summary>Removes a header (request or content header) if present.</summary>
    void RemoveHeader(string name);

    /// <summary>
    /// Replaces the path and query (e.g. with their canonical encoding, so the upstream decodes what was
    /// signed). The scheme, host and port stay: the destination is YARP's choice, not the injector's.
    /// </summary>
    void SetPathAndQuery(string pathAndQuery);
}
