namespace SecretlessProxy.Abstractions;

/// <summary>Puts a credential on an outgoing request: a header, HTTP Basic, a query parameter, a signature.</summary>
public interface ICredentialInjector
{
    /// <summary>Headers this injector writes; the proxy strips client-sent copies of them.</summary>
    IReadOnlyList<string> HeaderNames { get; }

    /// <summary>
    /// True when the injection reads the request it goes on (a signature over method, URL, headers, body). It then
    /// runs at the last moment, on the request as YARP sends it, and <see cref="IPreparedInjection.Apply"/>
    /// receives an <see cref="ISignableRequest"/>. False (the default): it runs as a YARP request transform.
    /// </summary>
    bool SignsRequest => false;

    /// <summary>
    /// Above zero, the proxy buffers the request body (up to this many bytes; a larger body is refused with 413
    /// before the upstream is called) and hands its SHA-256 to <see cref="ISignableRequest.PayloadSha256"/>.
    /// </summary>
    long PayloadHashLimit => 0;

    /// <summary>
    /// Whether routes using this injector mask the injected value in response bodies unless the route says
    /// otherwise (<c>RedactResponseBody</c>). True for injectors that send the secret itself (header, Basic,
    /// query), where an upstream that reflects the request would hand it back.
    /// </summary>
    bool RedactsResponsesByDefault => false;

    /// <summary>
    /// Looks at a request before the credential goes on it: refuse what the credential must not be used to send,
    /// or name further upstream paths the request reads. Called for every request on a route with this injector
    /// (keep it cheap); the default passes everything.
    /// </summary>
    RequestInspection Inspect(IForwardedRequest request) => RequestInspection.Pass;

    /// <summary>
    /// Formats the credential once (implementations cache per credential instance) and checks it is safe to
    /// send. Throws <see cref="CredentialInjectionException"/> when the value cannot be sent (e.g. it holds CR/LF).
    /// </summary>
    IPreparedInjection Prepare(Credential credential);
}
