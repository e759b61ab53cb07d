using System.CommandLine;

namespace SecretlessProxy.Cli;

/// <summary>
/// <c>validate --config FILE [--offline]</c>: the config checked exactly as <c>run</c> would, without starting anything;
/// with <c>--offline</c>, everything but the files the runtime mounts (for a config repository's CI).
/// </summary>
internal static class ValidateCommand
{
    public static Command Build(TextWriter output, TextWriter error) => CliApp.OfflineConfigCommand("validate",
        "Check a config file without starting the proxy; prints every error (file, line, key, value, fix) and exits 1 if there are any",
        error, warnings: output, (path, compiled, offline) => output.WriteLineAsync($"{path}: valid{(offline ? " offline (certificate, key and secret files not checked)" : "")} ({compiled.Summary})"));
}
