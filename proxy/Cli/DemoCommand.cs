using System.CommandLine;
using SecretlessProxy.Demo;
using SecretlessProxy.Hosting;

namespace SecretlessProxy.Cli;

internal static class DemoCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var port = new Option<int>("--port") { Description = "Port of the proxy's mTLS listener (a free one is used if taken)", DefaultValueFactory = _ => 8443 };
        var adminPort = new Option<int>("--admin-port") { Description = "Port of the admin listener (a free one is used if taken)", DefaultValueFactory = _ => 9901 };
        var dir = new Option<string?>("--dir") { Description = "Folder for the generated CA, certificates, token and config (default: a new temp folder)" };
        var command = new Command("demo", "Run the proxy on an embedded default: a generated dev CA and workload SVID, a demo token, an echo upstream; prints a curl command to call it")
        {
            port, adminPort, dir,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var folder = parse.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), "secretless-demo-" + Guid.NewGuid().ToString("N")[..8]);
            await using var upstream = await EchoUpstream.StartAsync();
            var demo = DemoEnvironment.Create(folder, parse.GetValue(port), parse.GetValue(adminPort), upstream.Address);
            await using var host = await ProxyHost.StartAsync(new ProxyHostOptions { ConfigPath = demo.ConfigPath, Tracing = Telemetry.TracingSettings.FromEnvironment() }, cancellationToken);
            await output.WriteLineAsync($"""

                SecretlessProxy demo is running.
                  proxy (mTLS):  https://localhost:{demo.Port}
                  proxy (local): unix:{demo.SocketPath}  (no certificate: the kernel names the caller)
                  admin:         http://127.0.0.1:{demo.AdminPort}/readyz
                  upstream:      {upstream.Address} (echoes the headers it receives)
                  files:         {demo.Directory}  (dev CA, server cert, the demo workload's SVID, echo-token.txt)
                  config:        {demo.ConfigPath}  (edit it: valid changes apply live)

                Call the upstream through the proxy as workload {DemoEnvironment.WorkloadId}.
                The request carries no credential; the upstream shows the Authorization header the proxy injected.
                Its token is masked (****) on the way back: the proxy never lets an upstream that reflects a request
                hand its credential to the caller (route metadata RedactResponseBody):

                {demo.CurlCommand("/echo/hello")}

                Or as a local process with no certificate at all: the socket's peer is you (your uid is the demo's
                identity {DemoEnvironment.LocalId}):

                {demo.SocketCurlCommand("/echo/hello")}

                A route the policy denies (403, problem+json naming the rule; the upstream is not called):

                {demo.CurlCommand("/admin-api/users")}

                Decision records (one JSON line per call) follow on stdout; logs go to stderr. Ctrl+C stops the demo.

                """);
            await output.FlushAsync(cancellationToken);
            await host.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        return command;
    }
}
