using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Cli;

internal static class ValidateCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = CliApp.ConfigOption();
        var command = new Command("validate", "Check a config file without starting the proxy; prints every error (file, line, key, value, fix) and exits 1 if there are any")
        {
            config,
        };
        command.SetAction(async parse =>
        {
            var path = parse.GetValue(config)!;
            var compilation = await CompileAsync(path);
            foreach (var warning in compilation.Warnings)
            {
                await output.WriteLineAsync("warning: " + warning);
            }
            if (compilation.Config is null)
            {
                await error.WriteLineAsync($"{path}: {compilation.Errors.Count} error(s):");
                foreach (var problem in compilation.Errors)
                {
                    await error.WriteLineAsync("  " + problem);
                }
                return 1;
            }
            using (compilation.Config)
            {
                await output.WriteLineAsync($"{path}: valid ({compilation.Config.Summary})");
            }
            return 0;
        });
        return command;
    }

    /// <summary>Compiles a config exactly as the proxy would, with YARP's own validator, without starting anything.</summary>
    public static async Task<ConfigCompilation> CompileAsync(string path)
    {
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.ClearProviders());
        services.AddRouting();
        services.AddReverseProxy();
        await using var provider = services.BuildServiceProvider();
        var compiler = new ConfigCompiler(PluginCatalog.CreateDefault(), provider.GetRequiredService<IConfigValidator>(), TimeProvider.System, NullLoggerFactory.Instance);
        return await compiler.CompileAsync(path);
    }
}
