namespace SecretlessProxy.Abstractions;

/// <summary>A provider that signs tokens itself and publishes its public keys (served as a JWKS document).</summary>
public interface IPublishesSigningKeys
{
    /// <summary>The public keys, each a JSON Web Key object as JSON text (no private parts).</summary>
    IReadOnlyList<string> PublicJwks { get; }

    /// <summary>The longest lifetime of a token signed with these keys: a retired key stays published that long.</summary>
    TimeSpan TokenLifetime { get; }
}
