namespace SecretlessProxy.Abstractions;

/// <summary>The request about to leave for the upstream, as an injector may change it.</summary>
public interface IOutboundRequest
{
    /// <summary>Sets a header, replacing any value it had.</summary>
    void SetHeader(string name, string value);

    /// <summary>Sets a query parameter, replacing any value it had.</summary>
    void SetQueryParameter(string name, string value);
}
