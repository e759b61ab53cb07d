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

    /// <summary>Everything but maps of free-form values (extra parameters, claims, tags) and what a role trusts as a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => [.. Keys.Where(k => k != "parameters")];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        OAuth2Keys.ValidateClient(config);
        PemSigningKey.Validate(config, "subjectSigningKey", required: true, "the proxy signs subject tokens with");
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
