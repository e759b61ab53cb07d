using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Cli;

internal static class DevCaCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var command = new Command("dev-ca", "A development CA that mints workload SVIDs and proxy server certificates as PEM files (no openssl needed)");
        command.Add(Init(output, error));
        command.Add(Issue(output, error));
        command.Add(Server(output, error));
        return command;
    }

    private static Command Init(TextWriter output, TextWriter error)
    {
        var outDir = new Option<string>("--out") { Description = "Folder to write ca.pem and ca.key to", Required = true };
        var name = new Option<string>("--name") { Description = "The CA's common name", DefaultValueFactory = _ => "SecretlessProxy dev CA" };
        var ttl = new Option<string>("--ttl") { Description = "Validity, e.g. 30d", DefaultValueFactory = _ => "365d" };
        var command = new Command("init", "Create a dev CA (ca.pem, ca.key); use ca.pem as the trust bundle of your trust domain") { outDir, name, ttl };
        command.SetAction(async parse =>
        {
            if (await ValidityAsync(parse.GetValue(ttl)!, error) is not { } validity)
            {
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
            if (await ValidityAsync(parse.GetValue(ttl)!, error) is not { } validity)
            {
                return 1;
            }
            return await IssueAsync(parse.GetValue(caDir)!, parse.GetValue(outDir)!, "svid", ca => ca.IssueSvid(parsed.Value, validity), output, error);
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
            if (await ValidityAsync(parse.GetValue(ttl)!, error) is not { } validity)
            {
                return 1;
            }
            return await IssueAsync(parse.GetValue(caDir)!, parse.GetValue(outDir)!, "server", ca => ca.IssueServer(parse.GetValue(dns)!, addresses, validity), output, error);
        });
        return command;
    }

    private static async Task<TimeSpan?> ValidityAsync(string text, TextWriter error)
    {
        var validity = Durations.Parse(text);
        if (validity is null)
        {
            await error.WriteLineAsync($"--ttl '{text}' must look like 90s, 30m, 24h or 7d");
        }
        return validity;
    }

    /// <summary>Loads the CA, issues one certificate, writes NAME.pem and NAME.key; a missing or unreadable CA is a one-line error.</summary>
    private static async Task<int> IssueAsync(string caDir, string outDir, string name, Func<DevCertificateAuthority, X509Certificate2> issue, TextWriter output, TextWriter error)
    {
        try
        {
            using var ca = DevCertificateAuthority.Load(caDir);
            using var certificate = issue(ca);
            var certPath = Path.Combine(outDir, name + ".pem");
            var keyPath = Path.Combine(outDir, name + ".key");
            DevCertificateAuthority.WritePem(certificate, certPath, keyPath);
            await output.WriteLineAsync($"wrote {certPath} and {keyPath} (valid until {certificate.NotAfter.ToUniversalTime():u})");
            return 0;
        }
        catch (FileNotFoundException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return 1;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"cannot use the dev CA in '{caDir}' or write to '{outDir}': {ex.Message}");
            return 1;
        }
    }
}
