using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary>
/// <c>inject: { type: client-certificate }</c> — nothing goes on the request: the credential's certificate is presented
/// on the TLS connection to the upstream (<see cref="ClientCertificateHandler"/>), on a connection pool of its own. The
/// only injector of <c>provider: client-certificate</c>, and the default for it.
/// </summary>
public sealed class ClientCertificateInjectorFactory : ICredentialInjectorFactory
{
    public string Name => "client-certificate";

    public IReadOnlyCollection<string> Keys { get; } = [];

    public void Validate(PluginConfig config)
    {
    }

    public ICredentialInjector Build(PluginConfig config) => Injector.Instance;

    private sealed class Injector : ICredentialInjector, IPreparedInjection
    {
        public static readonly Injector Instance = new();

        public IReadOnlyList<string> HeaderNames { get; } = [];

        public IPreparedInjection Prepare(Credential credential) =>
            credential.ClientCertificate is null
                ? throw new CredentialInjectionException(credential.Name, "the credential holds no client certificate to present")
                : this;

        // The certificate goes on the connection, not the request: InjectionFeature hands it to the handler.
        public void Apply(IOutboundRequest request)
        {
        }
    }
}
