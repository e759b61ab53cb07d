using System.CommandLine;
using System.Net;
using SecretlessProxy.DevCa;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Cli;

internal static class DevCaCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var command = new Command("dev-ca", "A development CA that mints workload SVIDs and proxy server certificates as PEM files (no openssl needed)");
        command.Add(Init(output));
        command.Add(Issue(output, error));
        command.Add(Server(output, error));
        return command;
    }

    private static Command Init(TextWriter output)
    {
        var outDir = new Option<string>("--out") { Description = "Folder to write ca.pem and ca.key to", Required = true };
        var name = new Option<string>("--name") { Description = "The CA's common name", DefaultValueFactory = _ => "SecretlessProxy dev CA" };
        var ttl = new Option<string>("--ttl") { Description = "Validity, e.g. 30d", DefaultValueFactory = _ => "365d" };
        var command = new Command("init", "Create a dev CA (ca.pem, ca.key); use ca.pem as the trust bundle of your trust domain") { outDir, name, ttl };
        command.SetAction(async parse =>
        {
            if (CliApp.ParseDuration(parse.GetValue(ttl)!) is not { } validity)
            {
                await output.WriteLineAsync("--ttl must look like 90s, 30m, 24h or 7d");
                return 1;
            }
            var dir = parse.GetValue(outDir)!;
            using var ca = DevCertificateAuthority.Create(parse.GetValue(name)!, validity);
            ca.Save(dir);
            await output.WriteLineAsync($"wrote {Path.Combine(dir, DevCertificateAuthority.CertificateFile)} and {Path.Combine(dir, DevCertificateAuthority.KeyFile)}");
            return 0;
        });
        return command;
    }

    private static Command Issue(TextWriter output, TextWriter error)
    {
        var caDir = new Option<string>("--ca") { Description = "Folder holding ca.pem and ca.key", Required = true };
        var spiffeId = new Option<string>("--spiffe-id") { Description = "The workload's SPIFFE ID, e.g. spiffe://example.org/ns/payments/sa/api", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder to write svid.pem and svid.key to", Required = true };
        var ttl = new Option<string>("--ttl") { Description = "Validity, e.g. 1h", DefaultValueFactory = _ => "24h" };
        var command = new Command("issue", "Issue a workload X.509-SVID (svid.pem, svid.key) for a SPIFFE ID") { caDir, spiffeId, outDir, ttl };
        command.SetAction(async parse =>
        {
            var id = parse.GetValue(spiffeId)!;
            if (!SpiffeId.TryParse(id, out var parsed, out var idError))
            {
                await error.WriteLineAsync($"--spiffe-id '{id}' is not a valid SPIFFE ID: {idError}");
                return 1;
            }
            if (parsed.IsRoot)
            {
                await error.WriteLineAsync($"--spiffe-id '{id}' has no path; a workload ID looks like spiffe://{parsed.TrustDomain}/ns/NAME/sa/NAME");
                return 1;
            }
            if (CliApp.ParseDuration(parse.GetValue(ttl)!) is not { } validity)
            {
                await error.WriteLineAsync("--ttl must look like 90s, 30m, 24h or 7d");
                return 1;
            }
            try
            {
                using var ca = DevCertificateAuthority.Load(parse.GetValue(caDir)!);
                using var svid = ca.IssueSvid(parsed.Value, validity);
                var dir = parse.GetValue(outDir)!;
                DevCertificateAuthority.WritePem(svid, Path.Combine(dir, "svid.pem"), Path.Combine(dir, "svid.key"));
                await output.WriteLineAsync($"wrote {Path.Combine(dir, "svid.pem")} and {Path.Combine(dir, "svid.key")} for {parsed.Value} (valid until {svid.NotAfter.ToUniversalTime():u})");
                return 0;
            }
            catch (FileNotFoundException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return 1;
            }
        });
        return command;
    }

    private static Command Server(TextWriter output, TextWriter error)
    {
        var caDir = new Option<string>("--ca") { Description = "Folder holding ca.pem and ca.key", Required = true };
        var outDir = new Option<string>("--out") { Description = "Folder to write server.pem and server.key to", Required = true };
        var dns = new Option<string[]>("--dns") { Description = "DNS names callers use for the proxy", DefaultValueFactory = _ => ["localhost"], AllowMultipleArgumentsPerToken = true };
        var ip = new Option<string[]>("--ip") { Description = "IP addresses callers use for the proxy", DefaultValueFactory = _ => ["127.0.0.1"], AllowMultipleArgumentsPerToken = true };
        var ttl = new Option<string>("--ttl") { Description = "Validity, e.g. 30d", DefaultValueFactory = _ => "30d" };
        var command = new Command("server", "Issue a TLS server certificate for the proxy's listener (server.pem, server.key)") { caDir, outDir, dns, ip, ttl };
        command.SetAction(async parse =>
        {
            var addresses = new List<IPAddress>();
            foreach (var text in parse.GetValue(ip)!)
            {
                if (!IPAddress.TryParse(text, out var address))
                {
                    await error.WriteLineAsync($"--ip '{text}' is not an IP address");
                    return 1;
                }
                addresses.Add(address);
            }
            if (CliApp.ParseDuration(parse.GetValue(ttl)!) is not { } validity)
            {
                await error.WriteLineAsync("--ttl must look like 90s, 30m, 24h or 7d");
                return 1;
            }
            try
            {
                using var ca = DevCertificateAuthority.Load(parse.GetValue(caDir)!);
                using var server = ca.IssueServer(parse.GetValue(dns)!, addresses, validity);
                var dir = parse.GetValue(outDir)!;
                DevCertificateAuthority.WritePem(server, Path.Combine(dir, "server.pem"), Path.Combine(dir, "server.key"));
                await output.WriteLineAsync($"wrote {Path.Combine(dir, "server.pem")} and {Path.Combine(dir, "server.key")}");
                return 0;
            }
            catch (FileNotFoundException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return 1;
            }
        });
        return command;
    }
}
