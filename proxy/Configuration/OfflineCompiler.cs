using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Credentials;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles a config exactly as the proxy would, with YARP's own validator, without starting anything (validate, inventory).</summary>
public static class OfflineCompiler
{
    /// <param name="catalog">The plugins, as the proxy runs with them: <c>Hosting.ProxyPlugins.CreateCatalog()</c>.</param>
    /// <param name="withoutRuntimeFiles">Skip the files the runtime mounts (<c>validate --offline</c>, <c>inventory</c>, <c>explain</c>, <c>test</c>).</param>
    public static async Task<ConfigCompilation> CompileAsync(string path, PluginCatalog catalog, bool withoutRuntimeFiles = false)
    {
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.ClearProviders());
        services.AddRouting();
        services.AddReverseProxy();
        await using var provider = services.BuildServiceProvider();
        var compiler = new ConfigCompiler(catalog, provider.GetRequiredService<IConfigValidator>(), TimeProvider.System, NullLoggerFactory.Instance);
        return await compiler.CompileAsync(path, withoutRuntimeFiles);
    }
}
