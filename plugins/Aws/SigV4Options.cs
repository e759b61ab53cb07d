namespace SecretlessProxy.Plugins.Aws;

/// <summary>Per-route signing settings.</summary>
/// <param name="Region">e.g. us-east-1.</param>
/// <param name="Service">e.g. s3, execute-api.</param>
/// <param name="NormalizePath">Remove dot segments and repeated slashes from the path before signing (every service but S3).</param>
/// <param name="SignPayloadHashHeader">Add and sign <c>x-amz-content-sha256</c> (S3 requires it).</param>
/// <param name="SignSessionToken">Sign <c>x-amz-security-token</c>; when false it is added after signing (some services want that).</param>
/// <param name="EncodePath">
/// URI-encode the path's segments (the test suite's convention, and the second encoding of a wire path for every
/// service but S3). False: the path is already in canonical form and is used as it is (S3).
/// </param>
/// <param name="EncodeQuery">URI-encode query names and values; false when they already are (taken from the wire).</param>
public sealed record SigV4Options(
    string Region,
    string Service,
    bool NormalizePath = true,
    bool SignPayloadHashHeader = false,
    bool SignSessionToken = true,
    bool EncodePath = true,
    bool EncodeQuery = true);
