using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>A secret (and optionally a user name) from files; the same <see cref="Credential"/> instance is
/// returned until a file changes, so injectors can reuse the header value they formatted.</summary>
internal sealed class FileCredentialProvider : ICredentialProvider
{
    private readonly string _name;
    private readonly WatchedSecretFile _secret;
    private readonly WatchedSecretFile? _username;
    private readonly string? _staticUsername;
    private Credential? _current;

    public FileCredentialProvider(string name, WatchedSecretFile secret, WatchedSecretFile? username, string? staticUsername)
    {
        _name = name;
        _secret = secret;
        _username = username;
        _staticUsername = staticUsername;
        _secret.Changed += Invalidate;
        if (_username is not null)
        {
            _username.Changed += Invalidate;
        }
    }

    public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        var current = Volatile.Read(ref _current);
        if (current is not null)
        {
            return ValueTask.FromResult(current);
        }
        var secret = _secret.TryGet(out var error) ?? throw new CredentialUnavailableException(_name, error!);
        var username = _staticUsername;
        if (_username is not null)
        {
            username = (_username.TryGet(out var userError) ?? throw new CredentialUnavailableException(_name, userError!)).Reveal();
        }
        current = new Credential(_name, secret) { Username = username, IsStatic = true };
        Volatile.Write(ref _current, current);
        return ValueTask.FromResult(current);
    }

    private void Invalidate() => Volatile.Write(ref _current, null);

    public void Dispose()
    {
        _secret.Dispose();
        _username?.Dispose();
    }
}
