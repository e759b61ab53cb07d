using System.Net;
using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// What the tests of the providers reading a secret store (Secrets Manager, Key Vault, Secret Manager, Kubernetes
/// Secrets) share: the default config plus one store credential injected as <see cref="Header"/> on its own route,
/// what the upstream received, the 503 of a store that is down with nothing cached, and the canary check.
/// </summary>
public static class StoreProviderChecks
{
    /// <summary>The header every store credential of these tests is injected as.</summary>
    public const string Header = "X-Api-Key";

    /// <summary>
    /// <see cref="ProxyUnderTest.DefaultConfig"/> plus credential <paramref name="credential"/> (<paramref name="keys"/>: its
    /// YAML lines, each indented four spaces and ending in a newline; the injector is added) on route
    /// <paramref name="route"/> (default: the credential's name) at <c>/ROUTE/…</c>, which <c>payments</c> may call.
    /// </summary>
    public static string Config(Uri upstream, string credential, string keys, string? route = null)
    {
        route ??= credential;
        return ProxyUnderTest.DefaultConfig(upstream,
            extraCredentials: $"  {credential}:\n{keys}    inject: {{ type: header, name: {Header}, template: \"{{secret}}\" }}",
            extraPolicies: $"  - name: payments-uses-{route}\n    allow: [payments]\n    routes: [{route}]",
            extraRoutes: $"    {route}:\n      ClusterId: upstream\n      Match: {{ Path: \"/{route}/{{**rest}}\" }}\n      Metadata: {{ Credential: {credential} }}");
    }

    /// <summary>Calls <paramref name="path"/>, which must answer 200, and returns the <see cref="Header"/> the upstream received.</summary>
    public static async Task<string?> InjectedAsync(ProxyUnderTest proxy, HttpClient client, string path)
    {
        var before = proxy.Upstream.Requests.Count;
        using var response = await client.GetAsync(new Uri(proxy.ProxyUri, path));
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return proxy.Upstream.Requests.Skip(before).Last().Headers.TryGetValue(Header, out var value) ? value : null;
    }

    /// <summary>
    /// Calls <paramref name="path"/> while its store is unreachable and nothing is cached: a problem+json
    /// <c>503 credential_issuer_unavailable</c> naming <paramref name="credential"/>, and no upstream call. Returns the body.
    /// </summary>
    public static async Task<string> AssertIssuerUnavailableAsync(ProxyUnderTest proxy, HttpClient client, string path, string credential)
    {
        var before = proxy.Upstream.Requests.Count;
        using var down = await client.GetAsync(new Uri(proxy.ProxyUri, path));
        var body = await down.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Equal("application/problem+json", down.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("credential_issuer_unavailable", problem.GetProperty("reason").GetString());
        Assert.Equal(credential, problem.GetProperty("credential").GetString());
        Assert.Equal(before, proxy.Upstream.Requests.Count);
        return body;
    }

    /// <summary>No canary (a secret, token or key) appears in any of <paramref name="texts"/> (answers, logs, records, reports).</summary>
    public static void AssertNoCanary(IEnumerable<string> canaries, params string[] texts)
    {
        foreach (var canary in canaries)
        {
            foreach (var text in texts)
            {
                Assert.DoesNotContain(canary, text, StringComparison.Ordinal);
            }
        }
    }
}
