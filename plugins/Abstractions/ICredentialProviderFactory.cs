namespace SecretlessProxy.Abstractions;

/// <summary>
/// Builds one kind of <see cref="ICredentialProvider"/> (selected by <c>credentials.NAME.provider</c>) and
/// validates that kind's config keys.
/// </summary>
public interface ICredentialProviderFactory
{
    /// <summary>The value of <c>provider</c> that selects this factory, e.g. <c>file</c>.</summary>
    string Name { get; }

    /// <summary>The config keys this provider reads; any other key under the credential is reported as unknown.</summary>
    IReadOnlyCollection<string> Keys { get; }

    /// <summary>
    /// The keys whose values are safe to show (the admin API's <c>GET /config</c>): names, paths, URLs, settings.
    /// Every other key is shown as <c>[redacted]</c>, so a key left out of this list is never echoed. Default: none.
    /// </summary>
    IReadOnlyCollection<string> EchoableKeys => [];

    /// <summary>
    /// True when the provider hands out long-lived secrets from a store (no expiry): caching knobs such as
    /// <c>maxTtl</c> and <c>refreshFraction</c> do not apply to it.
    /// </summary>
    bool IssuesStaticSecrets => false;

    /// <summary>
    /// The keys whose values name files the provider reads once when built (signing keys): the proxy watches them
    /// and reloads the config when one changes.
    /// </summary>
    IReadOnlyCollection<string> KeyFileKeys => [];

    /// <summary>
    /// The only injector this provider's credentials go with, and the default when <c>inject.type</c> is not given
    /// (<c>client-certificate</c>: its secret is a private key, which no header may carry); that injector then serves no
    /// other provider. Null (the default): any injector, <c>header</c> when none is named.
    /// </summary>
    string? RequiredInjector => null;

    /// <summary>Reports every problem with the provider's keys through <see cref="PluginConfig.Error"/>.</summary>
    void Validate(PluginConfig config);

    /// <summary>Builds the provider from a config that passed <see cref="Validate"/>.</summary>
    ICredentialProvider Build(PluginConfig config);
}
