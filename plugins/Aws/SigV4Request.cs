namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// What SigV4 signs. <see cref="Path"/> and <see cref="Query"/> are decoded (the signer encodes them);
/// <see cref="Headers"/> are the headers to sign, as sent (repeated names allowed, values untrimmed);
/// <see cref="PayloadHash"/> is the lowercase hex SHA-256 of the body, or <c>UNSIGNED-PAYLOAD</c>.
/// </summary>
public sealed record SigV4Request(
    string Method,
    string Path,
    IReadOnlyList<KeyValuePair<string, string>> Query,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    string PayloadHash)
{
    public const string UnsignedPayload = "UNSIGNED-PAYLOAD";
    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
}
