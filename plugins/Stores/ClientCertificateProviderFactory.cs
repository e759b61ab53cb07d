using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>
/// <c>provider: client-certificate</c> — a TLS client certificate and its private key from PEM files, for upstreams that
/// authenticate callers by certificate. The proxy presents it on the upstream connection (injector
/// <c>client-certificate</c>, the only one it goes with); the caller never sees it. The files are watched with the
/// config: a change rebuilds it, and a replacement that does not load (missing, key not matching, expired) is refused
/// like any bad config while the last good one keeps serving.
/// </summary>
public sealed class ClientCertificateProviderFactory : ICredentialProviderFactory
{
    /// <summary>The provider's name, and the injector it requires.</summary>
    public const string ProviderName = "client-certificate";

    public string Name => ProviderName;

    public bool IssuesStaticSecrets => true;

    public string? RequiredInjector => ProviderName;

    public IReadOnlyCollection<string> Keys { get; } = ["certFile", "keyFile"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public IReadOnlyCollection<string> KeyFileKeys => Keys;

    public void Validate(PluginConfig config) => ClientCertificate.Validate(config, "", required: true, "the proxy presents to the upstream");

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var certFile = config.ResolvePath(config.Get("certFile")!);
        var keyFile = config.ResolvePath(config.Get("keyFile")!);
        return new Provider(config.EntityName, ClientCertificate.Load(certFile, keyFile, config.TimeProvider.GetUtcNow()), File.ReadAllText(keyFile), config.TimeProvider);
    }

    /// <summary>Hands out the certificate loaded when the config was built, while it is valid.</summary>
    private sealed class Provider(string name, ClientCertificate certificate, string keyPem, TimeProvider time) : ICredentialProvider
    {
        // The secret is the private key: the inventory fingerprints it (the same key behind two credentials is one secret).
        private readonly Credential _credential = new(name, new SecretValue(keyPem)) { IsStatic = true, ClientCertificate = certificate };

        public bool PresentsClientCertificate => true;

        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            if (now >= certificate.NotAfter)
            {
                throw new CredentialUnavailableException(name, $"the client certificate ({certificate.Subject}) expired at {certificate.NotAfter:yyyy-MM-ddTHH:mm:ssZ}; replace its files");
            }
            return ValueTask.FromResult(_credential);
        }

        public void Dispose()
        {
        }
    }
}
