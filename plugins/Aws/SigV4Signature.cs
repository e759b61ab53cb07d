namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// The result of signing: the headers to set on the request (<c>Authorization</c>, <c>X-Amz-Date</c>, and
/// where used <c>X-Amz-Security-Token</c>, <c>X-Amz-Content-Sha256</c>), plus the intermediate strings for
/// tests. The canonical request holds the session token: never log it.
/// </summary>
public sealed record SigV4Signature(
    string CanonicalRequest,
    string StringToSign,
    string Signature,
    IReadOnlyList<KeyValuePair<string, string>> HeadersToSet)
{
    public string Authorization => HeadersToSet.First(h => h.Key == "Authorization").Value;

    public override string ToString() => $"SigV4Signature (signature {Abstractions.SecretValue.Redacted})";
}
