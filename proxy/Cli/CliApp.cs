using System.CommandLine;

namespace SecretlessProxy.Cli;

/// <summary>The <c>secretless-proxy</c> command line: run, validate, demo, dev-ca, inventory, explain, test.</summary>
public static class CliApp
{
    public static RootCommand Build(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("SecretlessProxy: a credential-injecting proxy. Workloads prove who they are with an X.509-SVID; " +
            "the proxy checks policy and adds the upstream credential, so applications never hold a secret.");
        root.Add(RunCommand.Build(output, error));
        root.Add(ValidateCommand.Build(output, error));
        root.Add(DemoCommand.Build(output, error));
        root.Add(DevCaCommand.Build(output, error));
        root.Add(InventoryCommand.Build(output, error));
        root.Add(ExplainCommand.Build(output, error));
        root.Add(TestCommand.Build(output, error));
        return root;
    }

    public static Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken cancellationToken = default)
    {
        output ??= Console.Out;
        error ??= Console.Error;
        var root = Build(output, error);
        return root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken);
    }

    internal static Option<string> ConfigOption() => new("--config", "-c")
    {
        Description = "The config file (YAML or JSON)",
        Required = true,
    };

    internal static Option<bool> OfflineOption() => new("--offline")
    {
        Description = "Check everything but the files mounted at run time (certificates, keys, trust bundles, secret and key files, log and state folders): for a config repository's CI",
    };

    /// <summary>
    /// A command that compiles <c>--config</c> offline and, when it is valid, runs <paramref name="use"/> on it (exit
    /// 0); otherwise it prints every error and exits 1. <paramref name="warnings"/> receives the config's warnings.
    /// </summary>
    internal static Command OfflineConfigCommand(string name, string description, TextWriter error, TextWriter? warnings, Func<string, Configuration.ProxyConfig, bool, Task> use)
    {
        var config = ConfigOption();
        var offline = OfflineOption();
        var command = new Command(name, description) { config, offline };
        command.SetAction(async parse =>
        {
            var path = parse.GetValue(config)!;
            var withoutFiles = parse.GetValue(offline);
            if (await CompileOrReportAsync(path, error, warnings, withoutFiles) is not { Config: { } compiled })
            {
                return 1;
            }
            using (compiled)
            {
                await use(path, compiled, withoutFiles);
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Compiles a config as the proxy would; prints its warnings to <paramref name="warnings"/> (when given), and on
    /// errors prints them all to <paramref name="error"/> and returns null.
    /// </summary>
    internal static async Task<Configuration.ConfigCompilation?> CompileOrReportAsync(string path, TextWriter error, TextWriter? warnings = null, bool withoutRuntimeFiles = false)
    {
        var compilation = await Configuration.OfflineCompiler.CompileAsync(path, Hosting.ProxyPlugins.CreateCatalog(), withoutRuntimeFiles);
        foreach (var warning in warnings is null ? [] : compilation.Warnings)
        {
            await warnings!.WriteLineAsync("warning: " + warning);
        }
        if (compilation.Config is not null)
        {
            return compilation;
        }
        await error.WriteLineAsync($"{path}: {compilation.Errors.Count} error(s):");
        foreach (var problem in compilation.Errors)
        {
            await error.WriteLineAsync("  " + problem);
        }
        return null;
    }
}
