using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Databases;

/// <summary>
/// A provider factory whose credentials are made on one of the gateway's <c>databases</c> (<c>postgres-dynamic</c>: a
/// role created per caller through an admin connection to that entry). The config compiler validates and builds it
/// with the compiled entries, which a <see cref="PluginConfig"/> does not carry, instead of through
/// <see cref="ICredentialProviderFactory.Validate"/> and <see cref="ICredentialProviderFactory.Build"/>.
/// </summary>
public interface IDatabaseCredentialFactory : ICredentialProviderFactory
{
    /// <summary>The key naming the <c>databases</c> entry the credentials are made on.</summary>
    const string DatabaseKey = "database";

    /// <summary>Reports every problem with the provider's keys, the database it names included.</summary>
    void Validate(PluginConfig config, DatabaseCatalog databases);

    /// <summary>Builds the provider from a config that passed <see cref="Validate(PluginConfig, DatabaseCatalog)"/>.</summary>
    ICredentialProvider Build(PluginConfig config, DatabaseCatalog databases);
}

/// <summary>The <c>databases</c> of the config being compiled: the entries that compiled, and every name declared (an entry with errors is declared, not compiled).</summary>
public sealed record DatabaseCatalog(IReadOnlyDictionary<string, DatabaseSettings> Compiled, IReadOnlyCollection<string> Declared)
{
    /// <summary>No databases (a compile without a <c>databases</c> section).</summary>
    public static DatabaseCatalog Empty { get; } = new(new Dictionary<string, DatabaseSettings>(), []);
}
