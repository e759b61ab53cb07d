namespace SecretlessProxy.Abstractions;

/// <summary>A credential already formatted for the wire (header value built, checked for CR/LF).</summary>
public interface IPreparedInjection
{
    /// <summary>
    /// Puts the credential on the outgoing request. For injectors that set
    /// <see cref="ICredentialInjector.SignsRequest"/>, <paramref name="request"/> is an <see cref="ISignableRequest"/>.
    /// </summary>
    void Apply(IOutboundRequest request);

    /// <summary>
    /// The exact strings this injection puts on the wire that must never come back to the caller (the header
    /// value, the secret, its URL-encoded forms). The proxy masks them in the response's link headers
    /// (<c>Location</c>, <c>Content-Location</c>, <c>Refresh</c>, <c>Link</c>) and, where the route asks, in its
    /// body. Empty by default.
    /// </summary>
    IReadOnlyList<string> EchoForms => [];
}
