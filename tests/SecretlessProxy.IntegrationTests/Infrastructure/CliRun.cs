using SecretlessProxy.Cli;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>The secretless-proxy command line run in process, with what it printed; and the repository it ships in.</summary>
public static class CliRun
{
    public static async Task<(int Exit, string Out, string Err)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await CliApp.RunAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The repository's root folder (where SecretlessProxy.sln is), found from the test binaries.</summary>
    public static string Repository
    {
        get
        {
            var repo = new DirectoryInfo(AppContext.BaseDirectory);
            while (!File.Exists(Path.Combine(repo!.FullName, "SecretlessProxy.sln")))
            {
                repo = repo.Parent;
            }
            return repo.FullName;
        }
    }
}
