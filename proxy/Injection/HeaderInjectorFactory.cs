using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary>
/// <c>inject: { type: header, name: Authorization, template: "Bearer {token}" }</c> — a header built from a
/// template with <c>{token}</c> (or its alias <c>{secret}</c>) and optionally <c>{username}</c>.
/// </summary>
public sealed class HeaderInjectorFactory : ICredentialInjectorFactory
{
    public const string DefaultHeader = "Authorization";
    public const string DefaultTemplate = "Bearer {token}";

    public string Name => "header";

    public IReadOnlyCollection<string> Keys { get; } = ["name", "template"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var name = config.Get("name") ?? DefaultHeader;
        if (HeaderNames.Problem(name) is { } problem)
        {
            config.Error("name", problem, "name an ordinary request header, e.g. name: X-Api-Key");
        }
        var template = config.Get("template") ?? DefaultTemplate;
        if (!template.Contains("{token}", StringComparison.Ordinal) && !template.Contains("{secret}", StringComparison.Ordinal))
        {
            config.Error("template", "does not contain {token} or {secret}, so the credential would never be sent", "write e.g. template: \"Bearer {token}\" or template: \"{secret}\"");
        }
        var rest = template.Replace("{token}", "", StringComparison.Ordinal).Replace("{secret}", "", StringComparison.Ordinal).Replace("{username}", "", StringComparison.Ordinal);
        if (rest.Contains('{', StringComparison.Ordinal) || rest.Contains('}', StringComparison.Ordinal))
        {
            config.Error("template", "has an unknown placeholder", "use only {token}, {secret} and {username}");
        }
        if (template.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            config.Error("template", "contains CR, LF or NUL", "keep the template on one line");
        }
    }

    public ICredentialInjector Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new HeaderInjector(config.Get("name") ?? DefaultHeader, config.Get("template") ?? DefaultTemplate);
    }

    private sealed class HeaderInjector : ICredentialInjector
    {
        private readonly string _header;
        private readonly string _template;
        private readonly PreparedInjectionCache _cache;

        public HeaderInjector(string header, string template)
        {
            _header = header;
            _template = template;
            HeaderNames = [header];
            _cache = new PreparedInjectionCache(Prepare);
        }

        public IReadOnlyList<string> HeaderNames { get; }

        public bool RedactsResponsesByDefault => true;

        IPreparedInjection ICredentialInjector.Prepare(Credential credential) => _cache.Get(credential);

        private SetHeader Prepare(Credential credential)
        {
            if (_template.Contains("{username}", StringComparison.Ordinal) && credential.Username is null)
            {
                throw new CredentialInjectionException(credential.Name, "the header template uses {username} but the credential has no user name");
            }
            var secret = credential.Secret.Reveal();
            var value = _template
                .Replace("{token}", secret, StringComparison.Ordinal)
                .Replace("{secret}", secret, StringComparison.Ordinal)
                .Replace("{username}", credential.Username ?? "", StringComparison.Ordinal);
            PreparedInjectionCache.EnsureSafe(credential, value);
            // The secret is inside the value: masking it hides every copy and leaves the template readable.
            return new SetHeader(_header, value, [secret]);
        }
    }

    internal sealed class SetHeader(string name, string value, IReadOnlyList<string> echoForms) : IPreparedInjection
    {
        public IReadOnlyList<string> EchoForms { get; } = EchoFormSet.Of(echoForms);

        public void Apply(IOutboundRequest request) => request.SetHeader(name, value);

        public override string ToString() => $"{name}: {SecretValue.Redacted}";
    }
}
