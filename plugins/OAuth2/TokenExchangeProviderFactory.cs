using System.Globalization;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.OAuth2;

/// <summary>
/// <c>provider: oauth2-token-exchange</c> — OAuth2 token exchange (RFC 8693): the proxy signs a short-lived JWT
/// for the calling workload (<c>sub</c> = its SPIFFE ID) and exchanges it, as <c>subject_token</c>, for an access
/// token bound to that workload. The subject token's public key is served on the admin listener's JWKS so the
/// authorization server can verify it.
/// </summary>
public sealed class TokenExchangeProviderFactory : ICredentialProviderFactory
{
    public string Name => "oauth2-token-exchange";

    public IReadOnlyCollection<string> KeyFileKeys { get; } = ["privateKey", "subjectSigningKey"];

    public IReadOnlyCollection<string> Keys { get; } =
        [.. OAuth2Keys.Client, "subjectSigningKey", "subjectKeyId", "subjectIssuer", "subjectAudience", "subjectTtl", "requestedTokenType"];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        OAuth2Keys.ValidateClient(config);
        var key = config.Get("subjectSigningKey");
        if (key is null)
        {
            config.Error("subjectSigningKey", "is required", "point it at the PEM private key the proxy signs subject tokens with (EC P-256 or RSA)");
        }
        else if (!File.Exists(config.ResolvePath(key)))
        {
            config.Error("subjectSigningKey", $"the file '{config.ResolvePath(key)}' does not exist", "point it at a PEM private key (relative paths start at the config file's folder)");
        }
        else if (TokenEndpoint.CheckKey(config.ResolvePath(key)) is { } problem)
        {
            config.Error("subjectSigningKey", $"the file '{config.ResolvePath(key)}' {problem}", "give a PEM private key: EC P-256 ('openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt') or RSA of 2048 bits or more");
        }
        if (config.Get("subjectTtl") is { } ttl && (!TimeSpan.TryParse(ttl, CultureInfo.InvariantCulture, out var t) || t < TimeSpan.FromSeconds(10) || t > TimeSpan.FromMinutes(10)))
        {
            config.Error("subjectTtl", "is not a duration between 10 seconds and 10 minutes", "write it as hh:mm:ss, e.g. subjectTtl: 00:01:00");
        }
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var settings = OAuth2Keys.Settings(config);
        var keyId = config.Get("subjectKeyId");
        var (key, jwk) = SubjectKey.Load(config.ResolvePath(config.Get("subjectSigningKey")!), keyId);
        return new TokenExchangeProvider(
            settings,
            key,
            jwk,
            config.Get("subjectIssuer") ?? "secretless-proxy",
            config.Get("subjectAudience"),
            config.Get("subjectTtl") is { } ttl ? TimeSpan.Parse(ttl, CultureInfo.InvariantCulture) : TimeSpan.FromMinutes(1),
            config.Get("requestedTokenType"),
            config.TimeProvider);
    }
}
