namespace SecretlessProxy.Plugins.OAuth2;

internal sealed record ClientCredentialsSettings(
    string Name,
    Uri? TokenUrl,
    Uri? Issuer,
    string ClientId,
    string ClientAuth,
    string? ClientSecretFile,
    string? ClientSecretEnv,
    string? PrivateKeyFile,
    string? KeyId,
    string? AssertionAudience,
    string? Scope,
    string? Resource,
    string? Audience,
    IReadOnlyList<KeyValuePair<string, string>> Parameters,
    TimeSpan Timeout,
    Uri? RevocationUrl = null);
