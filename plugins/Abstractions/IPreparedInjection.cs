namespace SecretlessProxy.Abstractions;

/// <summary>A credential already formatted for the wire (header value built, checked for CR/LF).</summary>
public interface IPreparedInjection
{
    /// <summary>
    /// Puts the credential on the outgoing request. For injectors that set
    /// <see cref="ICredentialInjector.SignsRequest"/>, <paramref name="request"/> is an <see cref="ISignableRequest"/>.
    /// </summary>
    void Apply(IOutboundRequest request);
}
