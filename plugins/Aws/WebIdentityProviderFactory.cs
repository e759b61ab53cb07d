using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// <c>provider: aws-sts-web-identity</c> — STS <c>AssumeRoleWithWebIdentity</c> with a token read from a file
/// (e.g. a Kubernetes projected service-account token). The file is read for every STS call, so a rotated token
/// is used from the next refresh on. The call itself is unsigned: the proxy holds no AWS secret at all.
/// </summary>
public sealed class WebIdentityProviderFactory : ICredentialProviderFactory
{
    private const long MaxTokenBytes = 64 * 1024;

    public string Name => "aws-sts-web-identity";

    public IReadOnlyCollection<string> Keys { get; } = [.. StsSettings.KeyNames, "tokenFile"];

    /// <summary>Everything but maps of free-form values (extra parameters, claims, tags) and what a role trusts as a secret.</summary>
    public IReadOnlyCollection<string> EchoableKeys => [.. Keys.Except(StsSettings.PrivateKeyNames)];

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        StsSettings.Validate(config);
        if (config.Get("tokenFile") is null)
        {
            config.Error("tokenFile", "is required", "set 'tokenFile' to the web identity token's file, e.g. tokenFile: /var/run/secrets/eks.amazonaws.com/serviceaccount/token");
        }
        if (config.Get("externalId") is not null)
        {
            config.Error("externalId", "is not a parameter of AssumeRoleWithWebIdentity", "remove it (the role's trust policy checks the token's issuer and audience instead)");
        }
        if (config.Section.GetSection("sessionTags").GetChildren().Any())
        {
            config.Error("sessionTags", "cannot be set on AssumeRoleWithWebIdentity (tags come from the token's claims)", "remove it");
        }
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new WebIdentityProvider(StsSettings.Read(config), config.ResolvePath(config.Get("tokenFile")!));
    }

    private sealed class WebIdentityProvider(StsSettings settings, string tokenFile) : ICredentialProvider, IRevokesAtIssuer
    {
        public ValueTask<IssuerRevocation?> RevokeAtIssuerAsync(Credential credential, CredentialRelease reason, CancellationToken cancellationToken) => StsRevocation.Answer();

        public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            var token = await ReadTokenAsync(cancellationToken);
            using var client = new AmazonSecurityTokenServiceClient(new AnonymousAWSCredentials(), StsClient.Config(settings));
            return await StsClient.CallAsync(settings, async ct => (await client.AssumeRoleWithWebIdentityAsync(new AssumeRoleWithWebIdentityRequest
            {
                RoleArn = settings.RoleArn,
                RoleSessionName = settings.RoleSessionName,
                DurationSeconds = settings.DurationSeconds,
                Policy = settings.Policy,
                WebIdentityToken = token,
            }, ct)).Credentials, cancellationToken);
        }

        private async Task<string> ReadTokenAsync(CancellationToken cancellationToken)
        {
            try
            {
                var info = new FileInfo(tokenFile);
                if (!info.Exists)
                {
                    throw new CredentialUnavailableException(settings.CredentialName, $"web identity token file '{tokenFile}' does not exist");
                }
                if (info.Length > MaxTokenBytes)
                {
                    throw new CredentialUnavailableException(settings.CredentialName, $"web identity token file '{tokenFile}' is larger than {MaxTokenBytes} bytes");
                }
                var token = (await File.ReadAllTextAsync(tokenFile, cancellationToken)).Trim();
                return token.Length > 0 ? token : throw new CredentialUnavailableException(settings.CredentialName, $"web identity token file '{tokenFile}' is empty");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CredentialUnavailableException(settings.CredentialName, $"web identity token file '{tokenFile}' could not be read ({ex.GetType().Name})");
            }
        }

        public void Dispose()
        {
        }
    }
}
