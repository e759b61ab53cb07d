using System.CommandLine;

namespace SecretlessProxy.Cli;

/// <summary><c>validate --config FILE</c>: the config checked exactly as <c>run</c> would, without starting anything.</summary>
internal static class ValidateCommand
{
    public static Command Build(TextWriter output, TextWriter error) => CliApp.OfflineConfigCommand("validate",
        "Check a config file without starting the proxy; prints every error (file, line, key, value, fix) and exits 1 if there are any",
        error, warnings: output, (path, compiled) => output.WriteLineAsync($"{path}: valid ({compiled.Summary})"));
}
