using System.Net;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// Canary secrets in every store kind, driven through every outcome (allow, deny, bad certificate, bad path,
/// unusable secret, refused reload): none of them may appear in logs, exception text, decision records or
/// any response the proxy writes itself.
/// </summary>
public sealed class CanaryTests : IDisposable
{
    private const string EnvCanary = "canary-env-5b1e77c0d3";
    private const string DirCanary = "canary-dir-92f04ab6e1";
    private const string BrokenCanary = "canary-broken-0c6d2f";

    private readonly TestPki _pki = new();

    [Fact]
    public async Task Canary_secrets_never_leak()
    {
        Environment.SetEnvironmentVariable("SECRETLESS_CANARY_ENV", EnvCanary);
        var mount = Path.Combine(_pki.Directory, "mount");
        Directory.CreateDirectory(mount);
        await File.WriteAllTextAsync(Path.Combine(mount, "token"), DirCanary);
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "broken.txt"), BrokenCanary + "\nX-Evil: 1");
        string Config(Uri u) => ProxyUnderTest.DefaultConfig(u,
            extraCredentials:
                "  env-cred: { provider: env, variable: SECRETLESS_CANARY_ENV, inject: { type: query, name: api_key } }\n" +
                "  dir-cred: { provider: secret-dir, path: mount, inject: { type: header, name: X-Api-Key, template: \"{secret}\" } }\n" +
                "  broken: { provider: file, path: broken.txt }",
            extraPolicies: "  - name: all\n    allow: [payments]\n    routes: [env, dir, broken]",
            extraRoutes:
                "    env: { ClusterId: upstream, Match: { Path: \"/env/{**rest}\" }, Metadata: { Credential: env-cred } }\n" +
                "    dir: { ClusterId: upstream, Match: { Path: \"/dir/{**rest}\" }, Metadata: { Credential: dir-cred } }\n" +
                "    broken: { ClusterId: upstream, Match: { Path: \"/broken/{**rest}\" }, Metadata: { Credential: broken } }");

        var bodies = new List<string>();
        await using (var proxy = await ProxyUnderTest.StartAsync(_pki, Config))
        {
            using var client = proxy.Client();
            async Task Call(HttpClient c, string path, HttpStatusCode expected)
            {
                using var response = await c.GetAsync(new Uri(proxy.ProxyUri, path));
                bodies.Add(await response.Content.ReadAsStringAsync());
                bodies.Add(response.Headers.ToString() + response.Content.Headers);
                Assert.Equal(expected, response.StatusCode);
            }
            await Call(client, "/allowed/a", HttpStatusCode.OK);
            await Call(client, "/env/a?api_key=guess", HttpStatusCode.OK);
            await Call(client, "/dir/a", HttpStatusCode.OK);
            await Call(client, "/denied/a", HttpStatusCode.Forbidden);
            await Call(client, "/broken/a", HttpStatusCode.BadGateway);
            await Call(client, "/nowhere", HttpStatusCode.NotFound);
            var svid = _pki.WritePem(_pki.Svid(), "canary");
            var curl = await Curl.RunAsync([.. Curl.Mtls(_pki, svid), "--path-as-is", proxy.ProxyUri.ToString().TrimEnd('/') + "/allowed/..%2Fdenied"]);
            Assert.Equal(400, curl.Status);
            bodies.Add(curl.Body + curl.StdErr);
            using (var anonymous = _pki.Client(null))
            {
                await Call(anonymous, "/allowed/a", HttpStatusCode.Unauthorized);
            }
            Assert.False(await proxy.RewriteConfigAsync(Config(proxy.Upstream.Address).Replace("provider: env", "provider: nope", StringComparison.Ordinal)));

            // The secrets did reach the upstream (so the scan below is meaningful)...
            Assert.Contains(proxy.Upstream.Requests, r => r.Headers.GetValueOrDefault("Authorization") == "Bearer " + ProxyUnderTest.Canary);
            Assert.Contains(proxy.Upstream.Requests, r => r.PathAndQuery.Contains(EnvCanary, StringComparison.Ordinal));
            Assert.Contains(proxy.Upstream.Requests, r => r.Headers.GetValueOrDefault("X-Api-Key") == DirCanary);
            await proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("status").GetInt32() == 401);

            // ...and nowhere else.
            var places = new Dictionary<string, string>
            {
                ["logs"] = proxy.Logs.Text,
                ["decision records"] = proxy.Decisions.Text,
                ["responses"] = string.Join("\n", bodies),
            };
            foreach (var canary in new[] { ProxyUnderTest.Canary, EnvCanary, DirCanary, BrokenCanary })
            {
                foreach (var (place, text) in places)
                {
                    Assert.False(text.Contains(canary, StringComparison.Ordinal), $"{canary} leaked into {place}");
                }
            }
            Assert.NotEmpty(proxy.Logs.Lines);
            Assert.True(proxy.Decisions.Records().Count >= 8, proxy.Decisions.Text);
        }
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("SECRETLESS_CANARY_ENV", null);
        _pki.Dispose();
    }
}
