using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>AWS credentials for signing: an access key id, its secret, and (for STS session credentials) a session token.</summary>
public sealed record AwsSigningCredentials(string AccessKeyId, SecretValue SecretAccessKey, SecretValue? SessionToken = null)
{
    public override string ToString() => $"AwsSigningCredentials {AccessKeyId} (secret {SecretValue.Redacted})";
}
