using System.CommandLine;

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
            if (await CliApp.CompileOrReportAsync(path, error, warnings: output) is not { Config: { } compiled })
            {
                return 1;
            }
            using (compiled)
            {
                await output.WriteLineAsync($"{path}: valid ({compiled.Summary})");
            }
            return 0;
        });
        return command;
    }
}
