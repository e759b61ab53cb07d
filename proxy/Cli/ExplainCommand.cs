using System.CommandLine;
using SecretlessProxy.PolicyChecks;

namespace SecretlessProxy.Cli;

/// <summary>
/// <c>explain --config F --identity ID --method M --path P [--route R] [--host H] [--at TIME] [--grant ROUTE]... [--attested-by KIND]</c>:
/// the route match, every rule weighed and why, the winning rule, the decision and what would change it, decided by
/// the proxy's own policy code on the config compiled offline (no certificate or secret files needed).
/// </summary>
internal static class ExplainCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = CliApp.ConfigOption();
        var identity = new Option<string>("--identity", "-i") { Description = "The caller: a SPIFFE ID or a name under identities", Required = true };
        var method = new Option<string>("--method", "-m") { Description = "The HTTP method (for a database route: the database role); default GET", DefaultValueFactory = _ => "GET" };
        var path = new Option<string>("--path", "-p") { Description = "The request path as the client sends it (not used for a database route)", DefaultValueFactory = _ => "/" };
        var route = new Option<string?>("--route", "-r") { Description = "Decide this route (an HTTP route id or a database name) instead of the one the request matches" };
        var host = new Option<string?>("--host") { Description = "The request's host, for routes that match on Hosts" };
        var at = new Option<string?>("--at") { Description = "When the request is made: ISO 8601 with its offset, e.g. 2026-03-02T10:00:00+01:00 (default now)" };
        var grants = new Option<string[]>("--grant") { Description = "A route or credential the caller holds a live grant for (repeatable)", AllowMultipleArgumentsPerToken = false };
        var attested = new Option<string>("--attested-by") { Description = "How the caller was attested: x509-svid (default), unix-peer, loopback or jwt", DefaultValueFactory = _ => "x509-svid" };
        var command = new Command("explain",
            "Explain the policy's decision for one request: the route it matches, every rule considered and why it applied or not, the winning rule, the decision and what would change it")
        {
            config, identity, method, path, route, host, at, grants, attested,
        };
        command.SetAction(async parse =>
        {
            var when = DateTimeOffset.UtcNow;
            if (parse.GetValue(at) is { } atText && !PolicyCaseFile.TryParseTime(atText, out when))
            {
                await error.WriteLineAsync($"--at '{atText}' is not a time with a UTC offset: write e.g. 2026-03-02T10:00:00+01:00 or 2026-03-02T09:00:00Z");
                return 2;
            }
            var kindText = parse.GetValue(attested) ?? "x509-svid";
            if (!Identity.AttestationKinds.TryParse(kindText, out var kind))
            {
                await error.WriteLineAsync($"--attested-by '{kindText}' is not an attestation kind: one of {string.Join(", ", Identity.AttestationKinds.Names)}");
                return 2;
            }
            if (await CliApp.CompileOrReportAsync(parse.GetValue(config)!, error, withoutRuntimeFiles: true) is not { Config: { } compiled })
            {
                return 1;
            }
            using (compiled)
            {
                var query = new PolicyQuery(parse.GetValue(identity)!, parse.GetValue(method) ?? "GET", parse.GetValue(path) ?? "/")
                {
                    Route = parse.GetValue(route),
                    Host = parse.GetValue(host),
                    At = when,
                    Grants = parse.GetValue(grants) ?? [],
                    AttestedBy = kind,
                };
                if (PolicyExplainer.Explain(compiled, query, out var problem) is not { } explanation)
                {
                    await error.WriteLineAsync(problem);
                    return 2;
                }
                await output.WriteAsync(ExplanationText.Render(explanation, query));
                return 0;
            }
        });
        return command;
    }
}
