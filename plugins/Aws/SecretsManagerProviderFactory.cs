using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// <c>provider: aws-secrets-manager</c> — one secret from AWS Secrets Manager (<c>GetSecretValue</c> over its
/// JSON 1.1 HTTP API, signed with <see cref="SigV4Signer"/>), or one key of a JSON secret. The AWS credentials it
/// signs with come from one of the AWS providers, configured under <c>auth</c> (<c>aws-sts-web-identity</c>,
/// <c>aws-sts-assume-role</c>, or <c>aws-static</c>).
/// </summary>
public sealed class SecretsManagerProviderFactory : ICredentialProviderFactory
{
    private static readonly ICredentialProviderFactory[] AuthProviders =
        [new WebIdentityProviderFactory(), new AssumeRoleProviderFactory(), new StaticKeysProviderFactory()];

    public string Name => "aws-secrets-manager";

    public IReadOnlyCollection<string> Keys { get; } = SecretsManagerSettings.KeyNames;

    /// <summary>Names, URLs and settings; <c>auth</c> is not echoed (it may hold an external id or a session policy).</summary>
    public IReadOnlyCollection<string> EchoableKeys { get; } = [.. SecretsManagerSettings.KeyNames.Where(k => k != SecretsManagerSettings.AuthKey)];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        SecretsManagerSettings.Validate(config);
        var auth = AuthConfig(config);
        var provider = auth.Get("provider");
        var factory = AuthProviders.FirstOrDefault(f => string.Equals(f.Name, provider, StringComparison.OrdinalIgnoreCase));
        if (factory is null)
        {
            auth.Error("provider", provider is null ? "is required" : $"'{provider}' is not an AWS credential provider",
                "sign with one of " + string.Join(", ", AuthProviders.Select(f => f.Name)) + ", e.g. auth: { provider: aws-sts-web-identity, roleArn: ..., tokenFile: ... }");
            return;
        }
        foreach (var child in auth.Section.GetChildren())
        {
            if (child.Key != "provider" && !factory.Keys.Contains(child.Key, StringComparer.Ordinal))
            {
                auth.Error(child.Key, $"is not a key of provider {factory.Name}", "use one of " + string.Join(", ", factory.Keys.Append("provider").Order(StringComparer.Ordinal)));
            }
        }
        factory.Validate(auth);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var auth = AuthConfig(config);
        var factory = AuthProviders.First(f => string.Equals(f.Name, auth.Get("provider"), StringComparison.OrdinalIgnoreCase));
        var signing = factory.Build(auth);
        try
        {
            return new SecretsManagerProvider(SecretsManagerSettings.Read(config), signing, config.TimeProvider, config.LoggerFactory);
        }
        catch
        {
            signing.Dispose();
            throw;
        }
    }

    private static PluginConfig AuthConfig(PluginConfig config) => new(
        config.EntityName,
        config.Section.GetSection(SecretsManagerSettings.AuthKey),
        config.ConfigDirectory,
        config.TimeProvider,
        config.LoggerFactory,
        (key, message, fix) => config.Error(SecretsManagerSettings.AuthKey + "." + key, message, fix));
}
