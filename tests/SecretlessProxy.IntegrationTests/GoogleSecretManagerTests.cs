using System.Net;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// <c>provider: google-secret-manager</c> end to end against the STS, IAM Credentials, OAuth2 and Secret Manager
/// emulator in Infrastructure/GoogleEmulator.cs (the exchanged token, the impersonated token and the key-file
/// assertion checked). Google's Node client is gRPC-first, so the REST shapes follow Google's published API
/// reference instead (see the README).
/// </summary>
public sealed class GoogleSecretManagerTests : IDisposable
{
    private const string FirstValue = "canary-gsm-secret-1-0c6d2e";
    private const string SecondValue = "canary-gsm-secret-2-f83a17";
    private const string Secret = "billing-api-key";

    private readonly TestPki _pki = new();

    private static string Config(Uri upstream, Uri google, string auth, string? secretManager = null) =>
        StoreProviderChecks.Config(upstream, "gsm",
            $"    provider: google-secret-manager\n    project: payments-prod\n    secret: {Secret}\n    endpoint: \"{secretManager ?? google.ToString()}\"\n" +
            $"    ttl: \"00:00:01\"\n    timeout: \"00:00:02\"\n    auth: {{ {auth} }}\n");

    private static string Federation(Uri google, bool impersonate) =>
        $"method: workload-identity-federation, audience: \"{GoogleEmulator.Provider}\", tokenFile: gcp-token, stsEndpoint: \"{new Uri(google, "v1/token")}\"" +
        (impersonate ? $", serviceAccount: proxy@payments-prod.iam.gserviceaccount.com, iamEndpoint: \"{google}\"" : "");

    [Fact]
    public async Task Federation_with_impersonation_injects_the_secret_and_a_new_version_is_picked_up()
    {
        await using var google = await GoogleEmulator.StartAsync();
        google.ImpersonableAccounts.Add(google.ServiceAccount);
        google.Accessors.Add(google.ServiceAccount);
        var subject = google.MintSubjectToken();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "gcp-token"), subject + "\n");
        google.AddVersion(Secret, FirstValue);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, google.Address, Federation(google.Address, impersonate: true)));
        using var client = proxy.Client();

        Assert.Equal(FirstValue, await StoreProviderChecks.InjectedAsync(proxy, client, "/gsm/a"));
        Assert.Equal(["sts", "generateAccessToken " + google.ServiceAccount, $"access {Secret}/latest as {google.ServiceAccount}"], google.Calls.Take(3));

        google.AddVersion(Secret, SecondValue);
        string? seen = null;
        await Eventually.Until(async () => (seen = await StoreProviderChecks.InjectedAsync(proxy, client, "/gsm/b")) == SecondValue, "the new version is injected",
            lastSeen: () => seen == FirstValue ? "still version 1" : "another value");
        await Eventually.Until(() => proxy.Logs.Text.Contains("version 1 replaced by 2", StringComparison.Ordinal), "the rotation is logged by version", lastSeen: () => "no rotation line");

        // A revoked access token: the next fetch exchanges again.
        google.RevokeAllTokens();
        var exchanges = google.Calls.Count(c => c == "sts");
        await Eventually.Until(async () => await StoreProviderChecks.InjectedAsync(proxy, client, "/gsm/c") == SecondValue && google.Calls.Count(c => c == "sts") > exchanges,
            "a new token is exchanged after a 401", lastSeen: () => string.Join(", ", google.Calls.TakeLast(3)));

        using var admin = new AdminClient(proxy);
        var (status, inventory) = await admin.GetAsync("/inventory?staleDays=0");
        Assert.Equal(200, status);
        StoreProviderChecks.AssertNoCanary([FirstValue, SecondValue, subject], proxy.Logs.Text, proxy.Decisions.Text, inventory.ToString());
    }

    [Fact]
    public async Task The_federated_token_alone_reads_a_pinned_version_and_a_refused_principal_gives_502()
    {
        await using var google = await GoogleEmulator.StartAsync();
        var subject = google.MintSubjectToken();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "gcp-token"), subject);
        google.AddVersion(Secret, FirstValue);
        google.AddVersion(Secret, SecondValue);
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, google.Address, Federation(google.Address, impersonate: false)));
        using var client = proxy.Client();

        using var refused = await client.GetAsync(new Uri(proxy.ProxyUri, "/gsm/a"));
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        Assert.Contains("PERMISSION_DENIED", body, StringComparison.Ordinal);

        google.Accessors.Add(GoogleEmulator.FederatedPrincipal("system:serviceaccount:payments:proxy"));
        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, google.Address, Federation(google.Address, impersonate: false)).Replace($"secret: {Secret}\n", $"secret: {Secret}\n    version: \"1\"\n", StringComparison.Ordinal)));
        string? seen = null;
        await Eventually.Until(async () =>
        {
            using var response = await client.GetAsync(new Uri(proxy.ProxyUri, "/gsm/b"));
            seen = response.StatusCode == HttpStatusCode.OK ? proxy.Upstream.Requests.Last().Headers.GetValueOrDefault(StoreProviderChecks.Header) : null;
            return seen == FirstValue;
        }, "the pinned version 1 is injected", lastSeen: () => seen == SecondValue ? "version 2" : "no value");
        Assert.Contains($"access {Secret}/1 as {GoogleEmulator.FederatedPrincipal("system:serviceaccount:payments:proxy")}", google.Calls);
        StoreProviderChecks.AssertNoCanary([subject, FirstValue], body, proxy.Logs.Text, proxy.Decisions.Text);
    }

    [Fact]
    public async Task A_service_account_key_signs_in_is_flagged_and_secret_manager_down_gives_503()
    {
        await using var google = await GoogleEmulator.StartAsync();
        google.Accessors.Add(google.ServiceAccount);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "gcp-key.json"), google.KeyFileJson);
        google.AddVersion(Secret, FirstValue);
        const string auth = "method: service-account-key, keyFile: gcp-key.json";
        await using var proxy = await ProxyUnderTest.StartAsync(_pki, u => Config(u, google.Address, auth));
        using var client = proxy.Client();

        Assert.Equal(FirstValue, await StoreProviderChecks.InjectedAsync(proxy, client, "/gsm/a"));
        Assert.Contains("oauth2 jwt-bearer", google.Calls);
        Assert.Contains("service-account key file", proxy.Logs.Text, StringComparison.Ordinal);
        using var admin = new AdminClient(proxy);
        var (_, reconcile) = await admin.GetAsync("/inventory/reconcile?format=json");
        Assert.Contains("service-account key", reconcile.ToString(), StringComparison.Ordinal);

        Assert.True(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address, google.Address, auth, secretManager: "http://127.0.0.1:1/")));
        var body = await StoreProviderChecks.AssertIssuerUnavailableAsync(proxy, client, "/gsm/b", "gsm");
        StoreProviderChecks.AssertNoCanary([FirstValue, "PRIVATE KEY"], body, proxy.Logs.Text, proxy.Decisions.Text, reconcile.ToString());
    }

    public void Dispose() => _pki.Dispose();
}
