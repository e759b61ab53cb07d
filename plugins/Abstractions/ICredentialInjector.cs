namespace SecretlessProxy.Abstractions;

/// <summary>Puts a credential on an outgoing request: a header, HTTP Basic, a query parameter.</summary>
public interface ICredentialInjector
{
    /// <summary>Headers this injector writes; the proxy strips client-sent copies of them.</summary>
    IReadOnlyList<string> HeaderNames { get; }

    /// <summary>
    /// Formats the credential once (implementations cache per credential instance) and checks it is safe to
    /// send. Throws <see cref="CredentialInjectionException"/> when the value cannot be sent (e.g. it holds CR/LF).
    /// </summary>
    IPreparedInjection Prepare(Credential credential);
}
