using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// The files the example configs' walkthroughs (their header comments) make besides the dev CA's, made the same way for
/// the tests that validate every example.
/// </summary>
public static class ExampleWalkthrough
{
    /// <summary>Writes them into <paramref name="certs"/>, the folder <c>dev-ca init</c> and <c>dev-ca server</c> wrote.</summary>
    public static void WriteFiles(string certs)
    {
        // postgres.yaml and mysql-gateway.yaml verify their upstream against a copy of the server's CA.
        File.Copy(Path.Combine(certs, "ca.pem"), Path.Combine(certs, "pg-ca.pem"));
        File.Copy(Path.Combine(certs, "ca.pem"), Path.Combine(certs, "mysql-ca.pem"));
        // azure-key-vault.yaml signs in to Entra ID with a client certificate (its `openssl req -x509 -newkey rsa:2048` step).
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=secretless-proxy", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(365));
        File.WriteAllText(Path.Combine(certs, "entra-client.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(certs, "entra-client.key"), rsa.ExportPkcs8PrivateKeyPem());
        // upstream-mtls.yaml presents certs/svid.pem (and svid.key) upstream: its `dev-ca issue` step.
        Assert.Equal(0, SecretlessProxy.Cli.CliApp.RunAsync(["dev-ca", "issue", "--ca", certs, "--spiffe-id", "spiffe://example.org/ns/infra/sa/secretless-proxy", "--out", certs], TextWriter.Null, TextWriter.Null).GetAwaiter().GetResult());
    }
}
