using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.Demo;

/// <summary>
/// Everything the demo needs, generated into one folder: a dev CA, the proxy's server certificate, the demo
/// workload's SVID, a demo API token, and a config that routes <c>/echo/</c> to the echo upstream with the
/// token injected and <c>/admin-api/</c> denied.
/// </summary>
public sealed class DemoEnvironment
{
    public const string TrustDomain = "demo.example";
    public const string WorkloadId = "spiffe://demo.example/ns/demo/sa/app";
    public const string LocalId = "spiffe://demo.example/ns/demo/sa/local";

    private DemoEnvironment(string directory, int port, int adminPort)
    {
        Directory = directory;
        Port = port;
        AdminPort = adminPort;
    }

    public string Directory { get; }

    public int Port { get; }

    public int AdminPort { get; }

    public string ConfigPath => Path.Combine(Directory, "config.yaml");

    /// <summary>The sidecar socket: callers are named by the kernel (this user's uid is the demo's local identity).</summary>
    public string SocketPath => Path.Combine(Directory, "proxy.sock");

    public string CaPath => Path.Combine(Directory, "ca.pem");

    public string SvidPath => Path.Combine(Directory, "svid.pem");

    public string SvidKeyPath => Path.Combine(Directory, "svid.key");

    public static DemoEnvironment Create(string directory, int port, int adminPort, Uri upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        System.IO.Directory.CreateDirectory(directory);
        port = FreeOr(port);
        adminPort = FreeOr(adminPort);
        using var ca = DevCertificateAuthority.Create("SecretlessProxy demo CA", TimeSpan.FromDays(7), trustDomain: TrustDomain);
        ca.Save(directory);
        using (var server = ca.IssueServer(["localhost"], [IPAddress.Loopback, IPAddress.IPv6Loopback], TimeSpan.FromDays(7)))
        {
            DevCertificateAuthority.WritePem(server, Path.Combine(directory, "server.pem"), Path.Combine(directory, "server.key"));
        }
        using (var svid = ca.IssueSvid(WorkloadId, TimeSpan.FromDays(1)))
        {
            DevCertificateAuthority.WritePem(svid, Path.Combine(directory, "svid.pem"), Path.Combine(directory, "svid.key"));
        }
        var tokenPath = Path.Combine(directory, "echo-token.txt");
        File.WriteAllText(tokenPath, "demo-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)) + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(tokenPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        File.WriteAllText(Path.Combine(directory, "config.yaml"), $$"""
            # SecretlessProxy demo config (generated). Edit it while the demo runs: valid changes apply live,
            # invalid ones are refused and logged while this version keeps serving.
            listeners:
              - name: mtls
                url: https://localhost:{{port}}
                certificate: { cert: server.pem, key: server.key }
                trustBundles: { {{TrustDomain}}: ca.pem }
              - name: socket
                url: unix:proxy.sock
              - name: admin
                role: admin
                url: http://127.0.0.1:{{adminPort}}

            identities:
              demo-app: { spiffeId: {{WorkloadId}} }
              # Whoever runs the demo, calling through proxy.sock: the kernel names the caller by its uid.
              demo-local:
                spiffeId: {{LocalId}}
                unix: { uid: {{Identity.Unix.UnixNative.CurrentUid()}} }

            credentials:
              echo-token:
                provider: file
                path: echo-token.txt
                inject: { type: header, name: Authorization, template: "Bearer {token}" }

            policies:
              - name: demo-app-uses-echo
                allow: [demo-app, demo-local]
                routes: [echo]
                methods: [GET, POST]
              - name: nobody-uses-admin-api
                deny: ["spiffe://{{TrustDomain}}/*"]
                routes: [admin-api]

            ReverseProxy:
              Routes:
                echo:
                  ClusterId: echo
                  Match: { Path: "/echo/{**rest}" }
                  Metadata: { Credential: echo-token }
                admin-api:
                  ClusterId: echo
                  Match: { Path: "/admin-api/{**rest}" }
              Clusters:
                echo:
                  Destinations:
                    d1: { Address: "{{upstream}}" }
            """);
        return new DemoEnvironment(directory, port, adminPort);
    }

    public string SocketCurlCommand(string path) => $"curl --unix-socket {Quote(SocketPath)} http://localhost{path}";

    public string CurlCommand(string path) =>
        $"curl --cacert {Quote(CaPath)} --cert {Quote(SvidPath)} --key {Quote(SvidKeyPath)} https://localhost:{Port}{path}";

    private static string Quote(string path) => path.Contains(' ', StringComparison.Ordinal) ? $"'{path}'" : path;

    private static int FreeOr(int port)
    {
        if (port != 0)
        {
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
                // taken: fall through to a free port
            }
        }
        using var free = new TcpListener(IPAddress.Loopback, 0);
        free.Start();
        return ((IPEndPoint)free.LocalEndpoint).Port;
    }
}
