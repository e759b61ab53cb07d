using System.Net;
using SecretlessProxy.Configuration;
using SecretlessProxy.DevCa;

namespace SecretlessProxy.Tests.Configuration;

/// <summary>What <c>validate</c> says about client certificates: the <c>client-certificate</c> credential and a cluster's <c>ClientCertificate</c>.</summary>
public sealed class ClientCertificateConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("secretless-mtls-config-").FullName;
    private readonly DevCertificateAuthority _ca = DevCertificateAuthority.Create("client CA", TimeSpan.FromDays(1));

    public ClientCertificateConfigTests()
    {
        File.WriteAllText(Path.Combine(_dir, "example.org.pem"), _ca.Certificate.ExportCertificatePem());
        using var server = _ca.IssueServer(["localhost"], [IPAddress.Loopback], TimeSpan.FromDays(1));
        DevCertificateAuthority.WritePem(server, Path.Combine(_dir, "server.pem"), Path.Combine(_dir, "server.key"));
        using var client = _ca.IssueSvid("spiffe://example.org/proxy", TimeSpan.FromHours(1));
        DevCertificateAuthority.WritePem(client, Path.Combine(_dir, "client.pem"), Path.Combine(_dir, "client.key"));
        using var other = _ca.IssueSvid("spiffe://example.org/other", TimeSpan.FromHours(1));
        DevCertificateAuthority.WritePem(other, Path.Combine(_dir, "other.pem"), Path.Combine(_dir, "other.key"));
        var now = DateTimeOffset.UtcNow;
        using var expired = _ca.Issue(new CertificateSpec { Subject = "CN=expired", NotBefore = now.AddDays(-2), NotAfter = now.AddMinutes(-1) });
        DevCertificateAuthority.WritePem(expired, Path.Combine(_dir, "expired.pem"), Path.Combine(_dir, "expired.key"));
    }

    private static string Config(string credential, string cluster = "", string listeners = "") => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem }
        {{listeners}}
        identities:
          api: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        credentials:
          partner:
        {{credential}}
        policies:
          - { name: api, allow: [api], routes: [partner] }
        ReverseProxy:
          Routes:
            partner: { ClusterId: partner, Match: { Path: "/partner/{**rest}" }, Metadata: { Credential: partner } }
          Clusters:
            partner:
              Destinations: { d1: { Address: "https://partner.example.com/" } }
        {{cluster}}
        """;

    private async Task<ConfigCompilation> CompileAsync(string text, bool offline = false)
    {
        var path = Path.Combine(_dir, "config.yaml");
        await File.WriteAllTextAsync(path, text);
        var result = await OfflineCompiler.CompileAsync(path, SecretlessProxy.Hosting.ProxyPlugins.CreateCatalog(), offline);
        result.Config?.Dispose();
        return result;
    }

    private static string Errors(ConfigCompilation result) => string.Join("\n", result.Errors.Select(e => e.ToString()));

    [Fact]
    public async Task A_client_certificate_credential_compiles_with_its_own_injector_by_default()
    {
        var result = await CompileAsync(Config("    provider: client-certificate\n    certFile: client.pem\n    keyFile: client.key",
            "      Metadata: { ClientCertificate: proxy-svid }"));
        Assert.True(result.Errors.Count == 0, Errors(result));
    }

    [Theory]
    [InlineData("    certFile: missing.pem\n    keyFile: client.key", "credentials.partner.certFile", "'", "missing.pem' does not exist")]
    [InlineData("    certFile: client.pem\n    keyFile: other.key", "credentials.partner.certFile", "other.key' is not a PEM private key matching the certificate", "")]
    [InlineData("    certFile: expired.pem\n    keyFile: expired.key", "credentials.partner.certFile", "(CN=expired) expired at", "")]
    [InlineData("    certFile: client.pem", "credentials.partner.keyFile", "is required", "")]
    [InlineData("    certFile: client.pem\n    keyFile: client.key\n    inject: { type: header, name: X-Key }", "credentials.partner.inject.type", "goes only with the 'client-certificate' injector", "")]
    public async Task Bad_client_certificates_are_clear_validate_errors(string keys, string key, string message, string more)
    {
        var result = await CompileAsync(Config("    provider: client-certificate\n" + keys));
        var error = Assert.Single(result.Errors, e => e.KeyPath == key);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains(more, error.Message, StringComparison.Ordinal);
        // The key's content is never quoted, whatever is wrong.
        var keyLine = File.ReadAllLines(Path.Combine(_dir, "client.key"))[1];
        Assert.DoesNotContain(keyLine, Errors(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offline_validation_does_not_read_the_files()
    {
        var result = await CompileAsync(Config("    provider: client-certificate\n    certFile: mounted-at-runtime.pem\n    keyFile: mounted-at-runtime.key"), offline: true);
        Assert.True(result.Errors.Count == 0, Errors(result));
    }

    [Fact]
    public async Task The_client_certificate_injector_serves_no_other_provider()
    {
        File.WriteAllText(Path.Combine(_dir, "token.txt"), "t");
        var result = await CompileAsync(Config("    provider: file\n    path: token.txt\n    inject: { type: client-certificate }"));
        var error = Assert.Single(result.Errors);
        Assert.Equal("credentials.partner.inject.type", error.KeyPath);
        Assert.Contains("serves only 'client-certificate' credentials", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cluster_presents_only_the_proxy_svid()
    {
        var result = await CompileAsync(Config("    provider: client-certificate\n    certFile: client.pem\n    keyFile: client.key", "      Metadata: { ClientCertificate: mine.pem }"));
        var error = Assert.Single(result.Errors);
        Assert.Equal("ReverseProxy.Clusters.partner.Metadata.ClientCertificate", error.KeyPath);
        Assert.Contains("'mine.pem' is not a client certificate a cluster can present", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Proxy_svid_needs_one_certificate_across_the_https_listeners()
    {
        var second = "  - name: mtls2\n    url: https://127.0.0.1:0\n    certificate: { cert: client.pem, key: client.key }\n    trustBundles: { example.org: example.org.pem }";
        var result = await CompileAsync(Config("    provider: client-certificate\n    certFile: client.pem\n    keyFile: client.key", "      Metadata: { ClientCertificate: proxy-svid }", second));
        var error = Assert.Single(result.Errors);
        Assert.Equal("ReverseProxy.Clusters.partner.Metadata.ClientCertificate", error.KeyPath);
        Assert.Contains("2 different certificates (mtls, mtls2)", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    clientAuth: tls_client_auth", "credentials.partner.clientCertificate.certFile", "is required")]
    [InlineData("    clientAuth: self_signed_tls_client_auth\n    clientCertificate: { certFile: client.pem, keyFile: other.key }", "credentials.partner.clientCertificate.certFile", "is not a PEM private key matching")]
    [InlineData("    clientAuth: tls_client_auth\n    clientCertificate: { certFile: client.pem, keyFile: client.key }\n    clientSecretFile: secret", "credentials.partner.clientAuth", "authenticates with the client certificate alone")]
    [InlineData("    clientCertificate: { certFile: expired.pem, keyFile: expired.key }\n    clientSecretFile: secret", "credentials.partner.clientCertificate.certFile", "expired at")]
    [InlineData("    clientAuth: tls_client_auth\n    clientCertificate: { certFile: client.pem, keyFile: client.key }\n    caFile: no-such-ca.pem", "credentials.partner.caFile", "does not exist")]
    public async Task Oauth2_mutual_tls_settings_are_checked(string keys, string key, string message)
    {
        var result = await CompileAsync(Config("    provider: oauth2-client-credentials\n    tokenUrl: https://idp.example.com/token\n    clientId: proxy\n" + keys));
        var error = Assert.Single(result.Errors, e => e.KeyPath == key);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oauth2_tls_client_auth_compiles()
    {
        var result = await CompileAsync(Config("    provider: oauth2-client-credentials\n    tokenUrl: https://idp.example.com/token\n    clientId: proxy\n    clientAuth: tls_client_auth\n    clientCertificate: { certFile: client.pem, keyFile: client.key }\n    caFile: example.org.pem"));
        Assert.True(result.Errors.Count == 0, Errors(result));
    }

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
