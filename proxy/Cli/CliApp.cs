using System.CommandLine;

namespace SecretlessProxy.Cli;

/// <summary>The <c>secretless-proxy</c> command line: run, validate, demo, dev-ca, inventory.</summary>
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

    /// <summary>Parses 90s, 30m, 24h, 7d.</summary>
    internal static TimeSpan? ParseDuration(string text)
    {
        if (text.Length < 2 || !double.TryParse(text[..^1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value) || value <= 0)
        {
            return null;
        }
        return char.ToLowerInvariant(text[^1]) switch
        {
            's' => TimeSpan.FromSeconds(value),
            'm' => TimeSpan.FromMinutes(value),
            'h' => TimeSpan.FromHours(value),
            'd' => TimeSpan.FromDays(value),
            _ => null,
        };
    }
}
