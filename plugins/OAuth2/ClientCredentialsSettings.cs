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
    Uri? RevocationUrl = null)
{
    /// <summary>The client certificate presented to the token endpoint (RFC 8705) and, since tokens may be bound to it, to upstreams.</summary>
    public string? CertFile { get; init; }

    /// <summary>Its private key.</summary>
    public string? KeyFile { get; init; }

    /// <summary>The CA file the token endpoint's certificate must chain to, instead of the system roots.</summary>
    public string? CaFile { get; init; }

    /// <summary>RFC 8705 §2 client authentication: the certificate on the connection, <c>client_id</c> in the body, no secret.</summary>
    public bool MutualTls => OAuth2Keys.IsMutualTls(ClientAuth);
}
