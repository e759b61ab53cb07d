using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary><c>provider: env</c> — the secret is an environment variable of the proxy process.</summary>
public sealed class EnvProviderFactory : ICredentialProviderFactory
{
    public string Name => "env";

    public bool IssuesStaticSecrets => true;

    public IReadOnlyCollection<string> Keys { get; } = ["variable", "username", "usernameVariable"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var variable = config.Get("variable");
        if (variable is null)
        {
            config.Error("variable", "is required", "set 'variable' to the environment variable's name, e.g. variable: GITHUB_TOKEN");
        }
        else if (variable.Contains('='))
        {
            config.Error("variable", "is not a valid environment variable name", "use the variable's name only, without '=' or a value");
        }
        if (config.Get("username") is not null && config.Get("usernameVariable") is not null)
        {
            config.Error("username", "cannot be set together with 'usernameVariable'", "keep one of the two");
        }
    }

    public ICredentialProvider Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new EnvCredentialProvider(config.EntityName, config.Get("variable")!, config.Get("usernameVariable"), config.Get("username"));
    }

    private sealed class EnvCredentialProvider(string name, string variable, string? usernameVariable, string? username) : ICredentialProvider
    {
        private Credential? _current;

        public ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
        {
            var current = Volatile.Read(ref _current);
            if (current is null)
            {
                var value = Environment.GetEnvironmentVariable(variable);
                if (string.IsNullOrEmpty(value))
                {
                    throw new CredentialUnavailableException(name, $"environment variable '{variable}' is not set");
                }
                var user = username;
                if (usernameVariable is not null)
                {
                    user = Environment.GetEnvironmentVariable(usernameVariable);
                    if (string.IsNullOrEmpty(user))
                    {
                        throw new CredentialUnavailableException(name, $"environment variable '{usernameVariable}' is not set");
                    }
                }
                current = new Credential(name, new SecretValue(value)) { Username = user, IsStatic = true };
                Volatile.Write(ref _current, current);
            }
            return ValueTask.FromResult(current);
        }

        public void Dispose()
        {
        }
    }
}
