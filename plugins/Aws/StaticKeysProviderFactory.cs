using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// <c>provider: aws-static</c> — long-lived access keys from a file or environment variables, for upstreams not
/// yet moved to STS. Flagged static (migration debt) in logs and decision records. Files are re-read at most
/// once per second.
/// </summary>
public sealed class StaticKeysProviderFactory : ICredentialProviderFactory
{
    private static readonly TimeSpan ReadInterval = TimeSpan.FromSeconds(1);

    public string Name => "aws-static";

    public bool IssuesStaticSecrets => true;

    public IReadOnlyCollection<string> Keys { get; } = AwsKeySource.KeyNames;

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        AwsKeySource.Validate(config);
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new StaticKeysProvider(config.EntityName, AwsKeySource.Build(config), config.TimeProvider);
    }

    private sealed class StaticKeysProvider(string name, AwsKeySource keys, TimeProvider time) : ICredentialProvider
    {
        private (Credential Credential, DateTimeOffset ReadAt)? _current;

        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var current = _current;
            if (current is { } cached && now - cached.ReadAt < ReadInterval)
            {
                return ValueTask.FromResult(cached.Credential);
            }
            var (accessKeyId, secret, token) = keys.Read();
            var credential = current is { } previous && previous.Credential.Username == accessKeyId
                && previous.Credential.Secret.Reveal() == secret.Reveal() && previous.Credential.SessionToken?.Reveal() == token?.Reveal()
                ? previous.Credential
                : new Credential(name, secret) { Username = accessKeyId, SessionToken = token, IsStatic = true };
            _current = (credential, now);
            return ValueTask.FromResult(credential);
        }

        public void Dispose()
        {
        }
    }
}
