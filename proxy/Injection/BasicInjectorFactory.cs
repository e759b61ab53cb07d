using System.Text;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary>
/// <c>inject: { type: basic }</c> — <c>Authorization: Basic base64(username:secret)</c>. The user name comes from
/// <c>username</c> here, else from the credential's store.
/// </summary>
public sealed class BasicInjectorFactory : ICredentialInjectorFactory
{
    public string Name => "basic";

    public IReadOnlyCollection<string> Keys { get; } = ["username"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Get("username") is { } username && username.Contains(':', StringComparison.Ordinal))
        {
            config.Error("username", "contains ':', which HTTP Basic cannot carry in a user name", "use a user name without ':'");
        }
    }

    public ICredentialInjector Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new BasicInjector(config.Get("username"));
    }

    private sealed class BasicInjector : ICredentialInjector
    {
        private readonly string? _username;
        private readonly PreparedInjectionCache _cache;

        public BasicInjector(string? username)
        {
            _username = username;
            _cache = new PreparedInjectionCache(Prepare);
        }

        public IReadOnlyList<string> HeaderNames { get; } = [HeaderInjectorFactory.DefaultHeader];

        public bool RedactsResponsesByDefault => true;

        IPreparedInjection ICredentialInjector.Prepare(Credential credential) => _cache.Get(credential);

        private HeaderInjectorFactory.SetHeader Prepare(Credential credential)
        {
            var username = _username ?? credential.Username
                ?? throw new CredentialInjectionException(credential.Name, "HTTP Basic needs a user name: set inject.username or give the store a username");
            if (username.Contains(':', StringComparison.Ordinal))
            {
                throw new CredentialInjectionException(credential.Name, "the user name contains ':', which HTTP Basic cannot carry");
            }
            var pair = username + ":" + credential.Secret.Reveal();
            PreparedInjectionCache.EnsureSafe(credential, pair);
            var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(pair));
            return new HeaderInjectorFactory.SetHeader(HeaderInjectorFactory.DefaultHeader, "Basic " + encoded, [encoded, credential.Secret.Reveal()]);
        }
    }
}
