using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>The <c>sigv4</c> injector: prepares AWS credentials once per credential and signs each request as it is sent.</summary>
internal sealed class SigV4Injector(SigV4Options options, long payloadHashLimit, TimeProvider time, AmzHeaderPolicy headers) : ICredentialInjector
{
    /// <summary>Headers the client may have signed with: stripped on the way in and re-set by the signature.</summary>
    internal static readonly string[] SignatureHeaders = ["Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-Sha256"];

    private PreparedSigV4? _last;

    public IReadOnlyList<string> HeaderNames => SignatureHeaders;

    public bool SignsRequest => true;

    public long PayloadHashLimit => payloadHashLimit;

    public RequestInspection Inspect(IForwardedRequest request) => headers.Inspect(request);

    public IPreparedInjection Prepare(Credential credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        var last = Volatile.Read(ref _last);
        if (last is not null && ReferenceEquals(last.Credential, credential))
        {
            return last;
        }
        if (credential.Username is not { Length: > 0 } accessKeyId)
        {
            throw new CredentialInjectionException(credential.Name,
                "SigV4 needs an access key id as the credential's user name: use provider aws-sts-assume-role, aws-sts-web-identity or aws-static");
        }
        if (accessKeyId.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0 || accessKeyId.Contains(' ', StringComparison.Ordinal) || accessKeyId.Contains('/', StringComparison.Ordinal)
            || credential.Secret.HasLineBreak || credential.SessionToken?.HasLineBreak == true)
        {
            throw new CredentialInjectionException(credential.Name, "the access key id, secret or session token contains characters a signed request cannot carry");
        }
        var prepared = new PreparedSigV4(credential, new AwsSigningCredentials(accessKeyId, credential.Secret, credential.SessionToken), options, time);
        Volatile.Write(ref _last, prepared);
        return prepared;
    }
}
