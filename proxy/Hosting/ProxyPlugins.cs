using SecretlessProxy.Credentials;

namespace SecretlessProxy.Hosting;

/// <summary>
/// The plugins the proxy runs and validates with: those of the plugin assemblies (<see cref="PluginCatalog.CreateDefault"/>)
/// and the providers built into the proxy's own layers above <c>Credentials/</c>: <c>postgres-dynamic</c> lives in
/// <c>Postgres/</c>, which uses <c>Credentials/</c> and <c>Configuration/</c>, so only a folder above all three may
/// register it (this one).
/// </summary>
public static class ProxyPlugins
{
    public static PluginCatalog CreateCatalog() => PluginCatalog.CreateDefault().With(new Postgres.DynamicRoleProviderFactory()).With(new MySql.DynamicUserProviderFactory());
}
