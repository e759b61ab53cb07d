using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// <c>provider: azure-key-vault</c> end to end against the Entra ID token endpoint and Key Vault emulator in
/// Infrastructure/AzureEmulator.cs (HTTPS with the test CA, the 401 challenge, client assertions and the bearer
/// audience checked); Azure's own <c>@azure/keyvault-secrets</c> drives the same emulator in the same run to show it
/// is faithful.
/// </summary>
public sealed class AzureKeyVaultTests : IDisposable
{
    private const string FirstValue = "canary-akv-secret-1-5be07c";
    private const string SecondValue = "canary-akv-secret-2-91d4aa";
    private const string SecretName = "billing-api-key";

    private readonly TestPki _pki = new();

    private static string Config(Uri upstream, AzureEmulator azure, string auth, Uri? vault = null) =>
        StoreProviderChecks.Config(upstream, "akv",
            $"    provider: azure-key-vault\n    vaultUri: \"{vault ?? azure.Address}\"\n    secret: {SecretName}\n    caFile: server-ca.pem\n" +
            $"    verifyChallengeResource: false\n    ttl: \"00:00:01\"\n    timeout: \"00:00:02\"\n" +
            $"    auth: {{ tenantId: {azure.TenantId}, clientId: {azure.ClientId}, authorityHost: \"{azure.Address}\", {auth} }}\n");

    [Fact]
    public async Task Azure_keyvault_secrets_client_meets_the_challenge_reads_versions_and_is_refused_a_token_for_another_resource()
    {
        NodeProcess.RequirePackage("azure", "@azure/keyvault-secrets");
        await using var azure = await AzureEmulator.StartAsync(_pki);
        var first = azure.AddVersion(SecretName, FirstValue);
        var second = azure.AddVersion(SecretName, SecondValue);

        var seen = await NodeProcess.RunClientAsync("azure", "the Azure Key Vault client", "client-check.mjs",
            [azure.Address.ToString(), new Uri(azure.Address, $"{azure.TenantId}/oauth2/v2.0/token").ToString(), azure.ClientId, azure.MintFederatedToken(), SecretName, first],
            new Dictionary<string, string> { ["NODE_EXTRA_CA_CERTS"] = _pki.ServerCaPath });

        Assert.Equal(SecondValue, seen.GetProperty("value").GetString());
        Assert.Equal(second, seen.GetProperty("version").GetString());
        Assert.True(seen.GetProperty("enabled").GetBoolean());
        Assert.Equal(FirstValue, seen.GetProperty("pinnedValue").GetString());
        // The SDK took the scope from the challenge's resource.
        Assert.Contains(AzureEmulator.VaultResource + "/.default", seen.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal("404 SecretNotFound", seen.GetProperty("missing").GetString());
        Assert.Equal("401", seen.GetProperty("wrongAudience").GetString());
        Assert.Contains("no token", azure.Challenges);
        Assert.Contains("token refused", azure.Challenges);
    }

    [Fact]
    public async Task A_secret_is_injected_with_workload_identity_and_a_new_version_is_picked_up()
    {
        await using var azure = await AzureEmulator.StartAsync(_pki);
        var federated = azure.MintFederatedToken();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "azure-token"), federated);
        var first = azure.AddVersion(SecretName, FirstValue);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, azure, "method: workload-identity, tokenFile: azure-token"));
        using var client = proxy.Client();

        Assert.Equal(FirstValue, await StoreProviderChecks.InjectedAsync(proxy, client, "/akv/a"));
        Assert.Contains(AzureEmulator.VaultResource + "/.default", azure.TokenRequests);
        Assert.Contains(azure.SecretReads, r => r.StartsWith(SecretName + "/(current) api-version=", StringComparison.Ordinal));

        var second = azure.AddVersion(SecretName, SecondValue);
        string? seen = null;
        await Eventually.Until(async () => (seen = await StoreProviderChecks.InjectedAsync(proxy, client, "/akv/b")) == SecondValue, "the new version is injected",
            lastSeen: () => seen == FirstValue ? "still the first version" : "another value");
        await Eventually.Until(() => proxy.Logs.Text.Contains($"version {first} replaced by {second}", StringComparison.Ordinal), "the rotation is logged by version", lastSeen: () => "no rotation line");

        using var admin = new AdminClient(proxy);
        var (status, inventory) = await admin.GetAsync("/inventory?staleDays=0");
        Assert.Equal(200, status);
        var inventoryText = inventory.ToString();
        Assert.Contains(second, inventoryText, StringComparison.Ordinal);
        StoreProviderChecks.AssertNoCanary([FirstValue, SecondValue, federated], proxy.Logs.Text, proxy.Decisions.Text, inventoryText);
    }

    [Fact]
    public async Task A_client_certificate_signs_in_and_a_vault_down_with_nothing_cached_gives_503()
    {
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest("CN=secretless-proxy", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "entra-client.pem"), certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "entra-client.key"), rsa.ExportPkcs8PrivateKeyPem());
        await using var azure = await AzureEmulator.StartAsync(_pki);
        azure.ClientCertificate = X509CertificateLoader.LoadCertificate(certificate.RawData);
        azure.AddVersion(SecretName, FirstValue);
        const string auth = "method: certificate, certificateFile: entra-client.pem, keyFile: entra-client.key";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, azure, auth));
        using var client = proxy.Client();

        Assert.Equal(FirstValue, await StoreProviderChecks.InjectedAsync(proxy, client, "/akv/a"));

        var closed = new Uri("https://127.0.0.1:1/");
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, azure, auth, vault: closed)));
        var body = await StoreProviderChecks.AssertIssuerUnavailableAsync(proxy, client, "/akv/b", "akv");
        StoreProviderChecks.AssertNoCanary([FirstValue], body, proxy.Logs.Text, proxy.Decisions.Text);
    }

    [Fact]
    public async Task A_refused_sign_in_gives_502_without_the_assertion_in_the_answer()
    {
        await using var azure = await AzureEmulator.StartAsync(_pki);
        var wrong = azure.MintFederatedToken(subject: "system:serviceaccount:other:intruder");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "azure-token"), wrong);
        azure.AddVersion(SecretName, FirstValue);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, azure, "method: workload-identity, tokenFile: azure-token"));
        using var client = proxy.Client();

        using var refused = await client.GetAsync(new Uri(proxy.ProxyUri, "/akv/a"));
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        Assert.Contains("invalid_client", azure.Refusals);
        StoreProviderChecks.AssertNoCanary([wrong, FirstValue], body, proxy.Logs.Text, proxy.Decisions.Text);
    }

    public void Dispose() => _pki.Dispose();
}
