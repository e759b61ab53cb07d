using System.CommandLine;
using SecretlessProxy.PolicyChecks;

namespace SecretlessProxy.Cli;

/// <summary>
/// <c>test --config F CASES.yaml</c>: runs a table of expected decisions against the config (compiled offline) with
/// the proxy's own policy code; exit 0 when every case holds, 1 when one does not (each shown as a diff), 2 when the
/// config or the case file is invalid.
/// </summary>
internal static class TestCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = CliApp.ConfigOption();
        var cases = new Argument<string>("cases") { Description = "The case file (YAML or JSON): cases of identity, request, time and grants, each with the decision expected" };
        var command = new Command("test",
            "Run a case file of expected policy decisions against a config (the 'opa test' of this proxy, for config repositories' CI); exits 1 on any mismatch and prints a diff")
        {
            config, cases,
        };
        command.SetAction(async parse =>
        {
            if (await CliApp.CompileOrReportAsync(parse.GetValue(config)!, error, withoutRuntimeFiles: true) is not { Config: { } compiled })
            {
                return 2;
            }
            using (compiled)
            {
                var file = parse.GetValue(cases)!;
                var loaded = PolicyCaseFile.Load(file, compiled, out var problems);
                if (problems.Count > 0)
                {
                    await error.WriteLineAsync($"{file}: {problems.Count} error(s):");
                    foreach (var problem in problems)
                    {
                        await error.WriteLineAsync("  " + problem);
                    }
                    return 2;
                }
                var (report, failed) = PolicyCaseRunner.Run(compiled, loaded);
                await output.WriteAsync(report);
                return failed == 0 ? 0 : 1;
            }
        });
        return command;
    }
}
