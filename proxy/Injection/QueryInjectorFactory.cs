using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary><c>inject: { type: query, name: api_key }</c> — the secret as a query parameter (replacing any the client sent).</summary>
public sealed class QueryInjectorFactory : ICredentialInjectorFactory
{
    private static readonly System.Buffers.SearchValues<char> Forbidden = System.Buffers.SearchValues.Create("&=#?% \r\n");

    public string Name => "query";

    public IReadOnlyCollection<string> Keys { get; } = ["name"];

    public IReadOnlyCollection<string> EchoableKeys => Keys;

    public void Validate(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var name = config.Get("name");
        if (name is null)
        {
            config.Error("name", "is required", "set 'name' to the query parameter, e.g. name: api_key");
        }
        else if (name.AsSpan().IndexOfAny(Forbidden) >= 0)
        {
            config.Error("name", "holds a character that would change the query's structure (one of & = # ? %, a space or a line break)", "write the parameter name as the upstream expects it, without those characters, e.g. name: api_key");
        }
    }

    public ICredentialInjector Build(PluginConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return new QueryInjector(config.Get("name")!);
    }

    private sealed class QueryInjector : ICredentialInjector
    {
        private readonly PreparedInjectionCache _cache;

        public QueryInjector(string name) =>
            _cache = new PreparedInjectionCache(credential =>
            {
                var value = credential.Secret.Reveal();
                PreparedInjectionCache.EnsureSafe(credential, value);
                return new SetQuery(name, value);
            });

        public IReadOnlyList<string> HeaderNames { get; } = [];

        public bool RedactsResponsesByDefault => true;

        public IPreparedInjection Prepare(Credential credential) => _cache.Get(credential);
    }

    private sealed class SetQuery(string name, string value) : IPreparedInjection
    {
        public IReadOnlyList<string> EchoForms { get; } = EchoFormSet.Of([value, Uri.EscapeDataString(value), System.Text.Encodings.Web.UrlEncoder.Default.Encode(value)]);

        public void Apply(IOutboundRequest request) => request.SetQueryParameter(name, value);

        public override string ToString() => $"?{name}={SecretValue.Redacted}";
    }
}
