using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// Certificates minted at test time (never committed): CAs for example.org and other.org (both configured as
/// bundles), an unknown CA (in no bundle), a server CA for the proxy's own certificate, and helpers that
/// build HTTP clients presenting a given client certificate.
/// </summary>
public sealed class TestPki : IDisposable
{
    public TestPki()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("secretless-it-").FullName;
        ExampleCa = DevCertificateAuthority.Create("example.org CA", TimeSpan.FromDays(2), trustDomain: "example.org");
        OtherCa = DevCertificateAuthority.Create("other.org CA", TimeSpan.FromDays(2), trustDomain: "other.org");
        UnknownCa = DevCertificateAuthority.Create("unknown CA", TimeSpan.FromDays(2), trustDomain: "example.org");
        ServerCa = DevCertificateAuthority.Create("server CA", TimeSpan.FromDays(2));
        File.WriteAllText(Path.Combine(Directory, "example.org.pem"), ExampleCa.Certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(Directory, "other.org.pem"), OtherCa.Certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(Directory, "server-ca.pem"), ServerCa.Certificate.ExportCertificatePem());
        using var server = ServerCa.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(Directory, "server.pem"), Path.Combine(Directory, "server.key"));
    }

    public const string PaymentsId = "spiffe://example.org/ns/payments/sa/api";

    public string Directory { get; }

    public DevCertificateAuthority ExampleCa { get; }

    public DevCertificateAuthority OtherCa { get; }

    public DevCertificateAuthority UnknownCa { get; }

    public DevCertificateAuthority ServerCa { get; }

    public string ServerCaPath => Path.Combine(Directory, "server-ca.pem");

    /// <summary>
    /// Writes a forward proxy's interception CA as <c>secretless-proxy dev-ca init --out interception</c> does
    /// (interception/ca.pem and ca.key, the names the forward-proxy test configs use); returns the certificate's path,
    /// which a client must trust.
    /// </summary>
    public string WriteInterceptionCa()
    {
        using var ca = DevCertificateAuthority.Create("interception CA", TimeSpan.FromDays(2));
        ca.Save(Path.Combine(Directory, "interception"));
        return Path.Combine(Directory, "interception", DevCertificateAuthority.CertificateFile);
    }

    /// <summary>A valid SVID for <paramref name="spiffeId"/> from the example.org CA.</summary>
    public X509Certificate2 Svid(string spiffeId = PaymentsId) => ExampleCa.IssueSvid(spiffeId, TimeSpan.FromHours(1));

    /// <summary>An HTTP client that presents <paramref name="certificate"/> (and sends <paramref name="chain"/>) and trusts only the server CA.</summary>
    public HttpClient Client(X509Certificate2? certificate, Version? version = null, params X509Certificate2[] chain)
    {
        var trust = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck, DisableCertificateDownloads = true };
        trust.CustomTrustStore.Add(ServerCa.Certificate);
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                CertificateChainPolicy = trust,
                ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, new X509Certificate2Collection(chain), offline: true),
            },
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        };
        return new HttpClient(handler)
        {
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(20),
        };
    }

    /// <summary>Writes a certificate and key as PEM for curl; returns their paths.</summary>
    public (string Cert, string Key) WritePem(X509Certificate2 certificate, string name, params X509Certificate2[] chain)
    {
        var cert = Path.Combine(Directory, name + ".pem");
        var key = Path.Combine(Directory, name + ".key");
        DevCertificateAuthority.WritePem(certificate, cert, key, chain);
        return (cert, key);
    }

    public void Dispose()
    {
        ExampleCa.Dispose();
        OtherCa.Dispose();
        UnknownCa.Dispose();
        ServerCa.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a file watcher may still hold the folder for a moment; temp cleanup is best effort
        }
    }
}
