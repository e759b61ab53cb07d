using Microsoft.Extensions.Logging;
using SecretlessProxy.Hosting;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>
/// A real proxy (Kestrel, TLS, YARP) on 127.0.0.1 with free ports, configured by a YAML file in the test PKI's
/// folder, its logs and decision records captured; plus a recording upstream behind it.
/// </summary>
public sealed class ProxyUnderTest : IAsyncDisposable
{
    private ProxyUnderTest(TestPki pki, RecordingUpstream upstream, ProxyHost host, string configPath, CapturedLogs logs, CapturedStream decisions)
    {
        Pki = pki;
        Upstream = upstream;
        Host = host;
        ConfigPath = configPath;
        Logs = logs;
        Decisions = decisions;
    }

    public const string Canary = "canary-7f3c9e2a41d8b6";

    public TestPki Pki { get; }

    public RecordingUpstream Upstream { get; }

    public ProxyHost Host { get; }

    public string ConfigPath { get; }

    public CapturedLogs Logs { get; }

    public CapturedStream Decisions { get; }

    public Uri ProxyUri => Host.GetListenerUri("mtls");

    /// <summary>The plain loopback admin listener: health, readiness, metrics and the JWKS.</summary>
    public Uri AdminUri => Host.GetListenerUri("admin");

    /// <summary>
    /// A client of the admin socket (allow: uid 0, the test process): the admin API's writes and reads. Requests
    /// may name any host (<see cref="AdminUri"/> included): every connection goes to the socket.
    /// </summary>
    public HttpClient AdminSocketClient() => UnixSocketHttp.Client(Host.GetSocketPath("admin-socket"));

    public string TokenPath => Path.Combine(Pki.Directory, "github-token.txt");

    /// <summary>The default config: route 'allowed' (payments may call it, token injected) and route 'denied' (no rule).</summary>
    public static string DefaultConfig(Uri upstream, string extraPolicies = "", string extraRoutes = "", string extraCredentials = "") => $$"""
        listeners:
          - name: mtls
            url: https://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles:
              example.org: example.org.pem
              other.org: other.org.pem
          - name: admin
            role: admin
            url: http://127.0.0.1:0
          - name: admin-socket
            role: admin
            url: unix:admin-{{upstream.Port}}.sock
            allow: [{ uid: 0 }]
        identities:
          payments: { spiffeId: spiffe://example.org/ns/payments/sa/api }
        credentials:
          github:
            provider: file
            path: github-token.txt
            pollInterval: "00:00:00.100"
            inject: { type: header, name: Authorization, template: "Bearer {token}" }
        {{extraCredentials}}
        policies:
          - name: payments-uses-allowed
            allow: [payments]
            routes: [allowed]
        {{extraPolicies}}
        ReverseProxy:
          Routes:
            allowed:
              ClusterId: upstream
              Match: { Path: "/allowed/{**rest}" }
              Metadata: { Credential: github }
            denied:
              ClusterId: upstream
              Match: { Path: "/denied/{**rest}" }
              Metadata: { Credential: github }
        {{extraRoutes}}
          Clusters:
            upstream:
              Destinations:
                d1: { Address: "{{upstream}}" }
        """;

    /// <param name="decisionOutput">Where the stdout sink writes instead of <see cref="Decisions"/> (a deliberately slow sink).</param>
    /// <param name="time">
    /// The proxy's clock (a <c>FakeTimeProvider</c>, so a test moves time instead of sleeping); the system clock when null.
    /// The proxy's timers run on it too: with a fake clock, config and secret files are only polled when the test
    /// advances it, so <see cref="RewriteConfigAsync"/> needs the system clock.
    /// </param>
    public static async Task<ProxyUnderTest> StartAsync(TestPki pki, Func<Uri, string>? config = null, string? token = Canary, string configName = "config.yaml", Stream? decisionOutput = null, SecretlessProxy.Telemetry.TracingSettings? tracing = null, TimeProvider? time = null)
    {
        var upstream = await RecordingUpstream.StartAsync();
        var configPath = Path.Combine(pki.Directory, configName);
        await File.WriteAllTextAsync(configPath, (config ?? (u => DefaultConfig(u)))(upstream.Address));
        if (token is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(pki.Directory, "github-token.txt"), token + "\n");
        }
        var logs = new CapturedLogs();
        var decisions = new CapturedStream();
        ProxyHost host;
        try
        {
            host = await ProxyHost.StartAsync(new ProxyHostOptions
            {
            ConfigPath = configPath,
            DecisionOutput = decisionOutput ?? decisions,
            ConfigPollInterval = TimeSpan.FromMilliseconds(100),
            LogLevel = LogLevel.Debug,
            ConfigureLogging = logging => logging.AddProvider(logs),
            Tracing = tracing,
            TimeProvider = time ?? TimeProvider.System,
            });
        }
        catch
        {
            await upstream.DisposeAsync();
            throw;
        }
        return new ProxyUnderTest(pki, upstream, host, configPath, logs, decisions);
    }

    /// <summary>Replaces the config file and waits until the proxy applied it (true) or refused it (false).</summary>
    public async Task<bool> RewriteConfigAsync(string text)
    {
        var generation = Host.Config.Generation;
        var refusals = Host.Config.Refusals;
        // Replace the file atomically, as deployment tools do: an in-place write can be caught half done when
        // the machine is loaded (the proxy then rightly refuses the half file, which is not what a test means).
        var temp = ConfigPath + ".tmp";
        await File.WriteAllTextAsync(temp, text);
        File.Move(temp, ConfigPath, overwrite: true);
        await Eventually.Until(() => Host.Config.Generation > generation || Host.Config.Refusals > refusals, "the proxy applies or refuses the new config");
        return Host.Config.Generation > generation;
    }

    public HttpClient Client(Version? version = null) => Pki.Client(Pki.Svid(), version);

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}
