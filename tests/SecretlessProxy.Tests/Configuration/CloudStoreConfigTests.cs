using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.Tests.Configuration;

/// <summary>
/// <c>azure-key-vault</c> and <c>google-secret-manager</c> as the compiler reads them: the files read when the provider
/// is built (a client certificate, a CA file) are checked as config, never a crash, except offline; the stores expand.
/// </summary>
public sealed class CloudStoreConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-cloud-").FullName;

    public CloudStoreConfigTests()
    {
        using var ca = DevCertificateAuthority.Create("test CA", TimeSpan.FromDays(1));
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), ca.Certificate.ExportCertificatePem());
        using var server = ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
    }

    private const string Tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    private const string Client = "0d4c7a3e-5f1b-4c2e-9a8d-3b6e1f0c2a94";

    private static string Yaml(string credentials, string stores = "") => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
        identities:
          api: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        {{stores}}
        credentials:
        {{credentials}}
        policies:
          - name: api-calls
            allow: [api]
            routes: [r]
        ReverseProxy:
          Routes:
            r: { ClusterId: c, Match: { Path: "/r/{**rest}" }, Metadata: { Credential: kv } }
          Clusters:
            c: { Destinations: { d: { Address: "https://api.example.com/" } } }
        """;

    private static string Certificate(string file, string? key = null) =>
        $"  kv: {{ provider: azure-key-vault, vaultUri: \"https://payments.vault.azure.net/\", secret: api-key, auth: {{ method: certificate, tenantId: {Tenant}, clientId: {Client}, certificateFile: {file}{(key is null ? "" : ", keyFile: " + key)} }} }}";

    private async Task<ConfigCompilation> CompileAsync(string text, bool offline = false)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        var result = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog(), offline);
        result.Config?.Dispose();
        return result;
    }

    [Fact]
    public async Task A_client_certificate_is_read_as_config_a_missing_or_mismatched_one_is_an_error_and_offline_is_not_read()
    {
        var missing = await CompileAsync(Yaml(Certificate("entra.pem")));
        var error = Assert.Single(missing.Errors);
        Assert.Equal("credentials.kv.auth.certificateFile", error.KeyPath);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);

        Assert.Empty((await CompileAsync(Yaml(Certificate("entra.pem")), offline: true)).Errors);

        using var rsa = RSA.Create(2048);
        using var certificate = new CertificateRequest("CN=proxy", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(Path.Combine(_dir, "entra.pem"), certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_dir, "entra.key"), rsa.ExportPkcs8PrivateKeyPem());
        Assert.Empty((await CompileAsync(Yaml(Certificate("entra.pem", "entra.key")))).Errors);

        // The server's key does not belong to this certificate.
        var mismatched = Assert.Single((await CompileAsync(Yaml(Certificate("entra.pem", "server.key")))).Errors);
        Assert.Equal("credentials.kv.auth.certificateFile", mismatched.KeyPath);
        Assert.Contains("is not a PEM certificate with its private key", mismatched.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE KEY", mismatched.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ca_file_that_is_missing_or_holds_no_certificate_is_an_error()
    {
        const string Google = "  kv: { provider: google-secret-manager, project: payments-prod, secret: api-key, caFile: CA, auth: { method: service-account-key, keyFile: key.json } }";
        var missing = Assert.Single((await CompileAsync(Yaml(Google.Replace("CA", "nope.pem", StringComparison.Ordinal)))).Errors);
        Assert.Equal("credentials.kv.caFile", missing.KeyPath);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var notCertificates = Assert.Single((await CompileAsync(Yaml(Google.Replace("CA", "server.key", StringComparison.Ordinal)))).Errors);
        Assert.Contains("holds no PEM certificate", notCertificates.Message, StringComparison.Ordinal);

        Assert.Empty((await CompileAsync(Yaml(Google.Replace("CA", "example.org.pem", StringComparison.Ordinal)))).Errors);
    }

    [Theory]
    [InlineData("type: azure-key-vault, vaultUri: \"https://payments.vault.azure.net/\", auth: { method: workload-identity, tenantId: " + Tenant + ", clientId: " + Client + ", tokenFile: token }",
        "azure-key-vault", "4387e9f3d6e14c459867679a90fd0f79")]
    [InlineData("type: google-secret-manager, project: payments-prod, auth: { method: workload-identity-federation, audience: \"//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k\", tokenFile: token }",
        "google-secret-manager", "\"3\"")]
    public async Task A_cloud_store_gives_its_credentials_its_provider_and_the_path_as_the_secret(string store, string provider, string version)
    {
        var stores = $"stores:\n  cloud: {{ {store} }}";
        var result = await CompileAsync(Yaml($"  kv: {{ store: cloud, path: billing-api-key, version: {version} }}", stores));
        Assert.Empty(result.Errors);
        var binding = result.Config!.Credentials["kv"];
        Assert.Equal(provider, binding.ProviderName);
        Assert.Equal("cloud", binding.Store);
        Assert.True(binding.IssuesStaticSecrets);

        var both = await CompileAsync(Yaml("  kv: { store: cloud, path: a, secret: b }", stores));
        Assert.Contains(both.Errors, e => e.KeyPath == "credentials.kv.path" && e.Message.Contains("and 'secret' are both given", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
