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

    public IReadOnlyCollection<string> KeyFileKeys { get; } = [.. OAuth2Keys.KeyFiles, "subjectSigningKey"];

    public IReadOnlyCollection<string> Keys { get; } =
        [.. OAuth2Keys.Client, "subjectSigningKey", "subjectKeyId", "subjectIssuer", "subjectAudience", "subjectTtl", "requestedTokenType", "onBehalfOf", "userTokenType"];

    /// <summary>Everything but maps of free-form values (extra parameters, claims, tags) and what a role trusts as a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => [.. Keys.Where(k => k != "parameters")];

    /// <summary>RFC 8693 §3 token types a user's OIDC token may be sent as.</summary>
    private static readonly string[] UserTokenTypes =
        ["urn:ietf:params:oauth:token-type:access_token", "urn:ietf:params:oauth:token-type:id_token", "urn:ietf:params:oauth:token-type:jwt"];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        OAuth2Keys.ValidateClient(config);
        PemSigningKey.Validate(config, "subjectSigningKey", required: true, "the proxy signs subject tokens with");
        if (config.Get("subjectTtl") is { } ttl && (!TimeSpan.TryParse(ttl, CultureInfo.InvariantCulture, out var t) || t < TimeSpan.FromSeconds(10) || t > TimeSpan.FromMinutes(10)))
        {
            config.Error("subjectTtl", "is not a duration between 10 seconds and 10 minutes", "write it as hh:mm:ss, e.g. subjectTtl: 00:01:00");
        }
        var onBehalfOf = config.Get("onBehalfOf");
        if (onBehalfOf is not null && !bool.TryParse(onBehalfOf, out _))
        {
            config.Error("onBehalfOf", $"'{onBehalfOf}' is not true or false", "write onBehalfOf: true to exchange the token of the user an MCP agent acts for");
        }
        if (config.Get("userTokenType") is { } type)
        {
            if (!UserTokenTypes.Contains(type))
            {
                config.Error("userTokenType", $"'{type}' is not a token type for a user's token", "use one of " + string.Join(", ", UserTokenTypes));
            }
            else if (onBehalfOf is null || !bool.TryParse(onBehalfOf, out var on) || !on)
            {
                config.Error("userTokenType", "is set, but onBehalfOf is not true", "add onBehalfOf: true, or remove userTokenType");
            }
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
            config.TimeProvider,
            config.Get("onBehalfOf") is { } on && bool.Parse(on) ? config.Get("userTokenType") ?? UserTokenTypes[0] : null);
    }
}
