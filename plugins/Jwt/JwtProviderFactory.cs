using System.Globalization;
using System.Security.Cryptography;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Jwt;

/// <summary>
/// <c>provider: jwt</c> — the proxy signs a short-lived JWT for the calling workload (<c>sub</c> = its SPIFFE
/// ID) with a key from a PEM file (EC P-256 → ES256, RSA → RS256). Its public key is served as JWKS on the
/// admin listener, so upstreams verify the proxy's tokens without any shared secret.
/// </summary>
public sealed class JwtProviderFactory : ICredentialProviderFactory
{
    internal static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(5);

    public string Name => "jwt";

    public IReadOnlyCollection<string> KeyFileKeys { get; } = ["signingKey"];

    public IReadOnlyCollection<string> Keys { get; } = ["signingKey", "keyId", "issuer", "audience", "ttl", "claims"];

    /// <summary>Everything but maps of free-form values (extra parameters, claims, tags) and what a role trusts as a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => [.. Keys.Where(k => k != "claims")];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        PemSigningKey.Validate(config, "signingKey", required: true, "the proxy signs tokens with");
        if (config.Get("issuer") is null)
        {
            config.Error("issuer", "is required", "set the 'iss' claim upstreams expect, e.g. issuer: https://secretless.example.org");
        }
        if (config.Get("audience") is null)
        {
            config.Error("audience", "is required", "set the 'aud' claim the upstream checks, e.g. audience: billing-api");
        }
        var ttl = Ttl(config);
        if (ttl is null)
        {
            config.Error("ttl", "is not a duration between 10 seconds and 1 hour", "write it as hh:mm:ss, e.g. ttl: 00:05:00");
        }
        else if (config.Section["maxTtl"] is { } max && TimeSpan.TryParse(max, CultureInfo.InvariantCulture, out var maxTtl) && ttl > maxTtl)
        {
            config.Error("ttl", $"is longer than the credential's maxTtl ({maxTtl})", "make ttl at most maxTtl: a token must not outlive the credential's cap");
        }
        foreach (var claim in config.Section.GetSection("claims").GetChildren())
        {
            if (claim.Key is "sub" or "iss" or "aud" or "exp" or "nbf" or "iat" or "jti")
            {
                config.Error("claims." + claim.Key, "is a registered claim the proxy sets itself", "remove it; use issuer/audience/ttl for those");
            }
        }
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var claims = config.Section.GetSection("claims").GetChildren()
            .Where(c => c.Value is not null)
            .ToDictionary(c => c.Key, c => (object)c.Value!);
        return new JwtProvider(
            config.EntityName,
            JwtSigningKey.Load(config.ResolvePath(config.Get("signingKey")!), config.Get("keyId")),
            config.Get("issuer")!,
            config.Get("audience")!,
            Ttl(config)!.Value,
            claims,
            config.TimeProvider);
    }

    private static TimeSpan? Ttl(PluginConfig config)
    {
        if (config.Get("ttl") is not { } text)
        {
            return DefaultTtl;
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var ttl) && ttl >= TimeSpan.FromSeconds(10) && ttl <= TimeSpan.FromHours(1) ? ttl : null;
    }
}
