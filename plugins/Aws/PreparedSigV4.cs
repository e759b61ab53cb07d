using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// Signs one outgoing request: drops whatever signature the client brought (headers and presigned-URL query
/// parameters), puts path and query into canonical encoding on the wire, and signs host, content type, every
/// <c>x-amz-*</c> header and the payload hash.
/// </summary>
internal sealed class PreparedSigV4(Credential credential, AwsSigningCredentials keys, SigV4Options options, TimeProvider time) : IPreparedInjection
{
    private static readonly HashSet<string> PresignParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    };

    private readonly SigV4SigningKeyCache _keyCache = new();

    public Credential Credential => credential;

    public void Apply(IOutboundRequest request)
    {
        if (request is not ISignableRequest outgoing)
        {
            throw new InvalidOperationException("the sigv4 injector signs the request as sent; the host must hand it an ISignableRequest");
        }
        foreach (var name in SigV4Injector.SignatureHeaders)
        {
            outgoing.RemoveHeader(name);
        }

        var path = UriCanonicalizer.Path(outgoing.Url.AbsolutePath);
        var query = UriCanonicalizer.Query(outgoing.Url.Query, PresignParameters.Contains);
        outgoing.SetPathAndQuery(query.Count == 0 ? path : path + "?" + string.Join('&', query.Select(p => p.Key + "=" + p.Value)));
        // Sign the path as the URL carries it now (System.Uri may have removed dot segments).
        path = outgoing.Url.AbsolutePath;

        var headers = new List<KeyValuePair<string, string>>(8) { new("host", outgoing.Host) };
        foreach (var (name, value) in outgoing.Headers)
        {
            if (name.StartsWith("x-amz-", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Content-MD5", StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(new(name, value));
            }
        }
        var payloadHash = options.SignPayloadHashHeader && outgoing.PayloadSha256 is null
            ? SigV4Request.UnsignedPayload
            : outgoing.PayloadSha256 ?? throw new CredentialInjectionException(credential.Name, "the payload must be signed but its hash is missing");
        var signature = SigV4Signer.Sign(new SigV4Request(outgoing.Method, path, query, headers, payloadHash), keys, options, time.GetUtcNow(), _keyCache);
        foreach (var (name, value) in signature.HeadersToSet)
        {
            outgoing.SetHeader(name, value);
        }
    }

    public override string ToString() => $"SigV4 {options.Service}/{options.Region} ({SecretValue.Redacted})";
}
