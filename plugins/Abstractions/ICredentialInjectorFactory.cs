namespace SecretlessProxy.Abstractions;

/// <summary>Builds one kind of <see cref="ICredentialInjector"/>, selected by <c>credentials.NAME.inject.type</c>.</summary>
public interface ICredentialInjectorFactory
{
    /// <summary>The value of <c>inject.type</c> that selects this factory, e.g. <c>header</c>.</summary>
    string Name { get; }

    /// <summary>The keys under <c>inject</c> this injector reads (besides <c>type</c>).</summary>
    IReadOnlyCollection<string> Keys { get; }

    /// <summary>The keys under <c>inject</c> whose values are safe to show in <c>GET /config</c>; others are redacted. Default: none.</summary>
    IReadOnlyCollection<string> EchoableKeys => [];

    /// <summary>Reports every problem with the injector's keys through <see cref="PluginConfig.Error"/>.</summary>
    void Validate(PluginConfig config);

    /// <summary>Builds the injector from a config that passed <see cref="Validate"/>.</summary>
    ICredentialInjector Build(PluginConfig config);
}
