using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>
/// <c>provider: oauth2-client-credentials</c> — an access token from an OAuth2 token endpoint (RFC 6749 §4.4).
/// Client authentication: <c>client_secret_basic</c>, <c>client_secret_post</c> (secret read from a file or an
/// environment variable, never written in the config) or <c>private_key_jwt</c> (RFC 7523, a PEM key: the proxy
/// holds no shared secret).
/// </summary>
public sealed class ClientCredentialsProviderFactory : ICredentialProviderFactory
{
    public string Name => "oauth2-client-credentials";

    public IReadOnlyCollection<string> KeyFileKeys { get; } = OAuth2Keys.KeyFiles;

    public IReadOnlyCollection<string> Keys { get; } = OAuth2Keys.Client;

    /// <summary>Everything but maps of free-form values (extra parameters, claims, tags) and what a role trusts as a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => [.. Keys.Where(k => k != "parameters")];

    public void Validate(PluginConfig config) => OAuth2Keys.ValidateClient(config);

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new ClientCredentialsProvider(OAuth2Keys.Settings(config), config.TimeProvider);
    }
}
