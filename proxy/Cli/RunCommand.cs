using System.CommandLine;
using SecretlessProxy.Configuration;
using SecretlessProxy.Hosting;

namespace SecretlessProxy.Cli;

internal static class RunCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = CliApp.ConfigOption();
        var command = new Command("run", "Run the proxy with a config file; edits to the file apply live (an invalid edit is refused and the last good config keeps serving)")
        {
            config,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var path = parse.GetValue(config)!;
            ProxyHost host;
            try
            {
                host = await ProxyHost.StartAsync(new ProxyHostOptions { ConfigPath = path, Tracing = Telemetry.TracingSettings.FromEnvironment() }, cancellationToken);
            }
            catch (ConfigRejectedException ex)
            {
                await error.WriteLineAsync($"secretless-proxy: refusing to start: {path} has {ex.Errors.Count} error(s):");
                foreach (var problem in ex.Errors)
                {
                    await error.WriteLineAsync("  " + problem);
                }
                return 2;
            }
            catch (IOException ex)
            {
                // Address already in use and the like: the message names the address, never a secret.
                await error.WriteLineAsync($"secretless-proxy: cannot start: {ex.Message}");
                return 3;
            }
            await using (host)
            {
                await host.WaitForShutdownAsync(cancellationToken);
            }
            return 0;
        });
        return command;
    }
}
