using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// <c>provider: aws-sts-assume-role</c> — STS <c>AssumeRole</c> signed with base access keys from a file or
/// environment variables; returns session credentials (access key id, secret, session token, expiry).
/// </summary>
public sealed class AssumeRoleProviderFactory : ICredentialProviderFactory
{
    public string Name => "aws-sts-assume-role";

    public IReadOnlyCollection<string> Keys { get; } = [.. StsSettings.KeyNames, .. AwsKeySource.KeyNames];

    /// <summary>Everything but maps of free-form values (extra parameters, claims, tags) and what a role trusts as a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => [.. Keys.Except(StsSettings.PrivateKeyNames)];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        StsSettings.Validate(config);
        AwsKeySource.Validate(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new AssumeRoleProvider(StsSettings.Read(config), AwsKeySource.Build(config));
    }

    private sealed class AssumeRoleProvider(StsSettings settings, AwsKeySource keys) : ICredentialProvider, IRevokesAtIssuer
    {
        public ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) => StsRevocation.Answer();

        public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            // Read the base keys for every call, so rotated keys are used from the next STS call on.
            var (accessKeyId, secret, token) = keys.Read();
            AWSCredentials baseCredentials = token is null
                ? new BasicAWSCredentials(accessKeyId, secret.Reveal())
                : new SessionAWSCredentials(accessKeyId, secret.Reveal(), token.Reveal());
            using var client = new AmazonSecurityTokenServiceClient(baseCredentials, StsClient.Config(settings));
            return await StsClient.CallAsync(settings, async ct => (await client.AssumeRoleAsync(new AssumeRoleRequest
            {
                RoleArn = settings.RoleArn,
                RoleSessionName = settings.RoleSessionName,
                DurationSeconds = settings.DurationSeconds,
                ExternalId = settings.ExternalId,
                Policy = settings.Policy,
                Tags = StsClient.Tags(settings),
            }, ct)).Credentials, cancellationToken);
        }

        public void Dispose()
        {
        }
    }
}
