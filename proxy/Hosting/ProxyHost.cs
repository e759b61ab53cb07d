using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using SecretlessProxy.Admin;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Credentials.Redis;
using SecretlessProxy.Grants;
using SecretlessProxy.Identity;
using SecretlessProxy.Identity.Unix;
using SecretlessProxy.Inventory;
using SecretlessProxy.Listeners;
using SecretlessProxy.Metrics;
using SecretlessProxy.Pipeline;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace SecretlessProxy.Hosting;

/// <summary>
/// The running proxy: Kestrel listeners from the config (mTLS with per-connection SVID verification, and the
/// admin listener), the request pipeline (identity → path guard → route → policy → credential → YARP forward)
/// and the config manager that reloads it all live.
/// </summary>
public sealed partial class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, ListenOptions> _bound;

    private ProxyHost(WebApplication app, Dictionary<string, ListenOptions> bound)
    {
        _app = app;
        _bound = bound;
    }

    public ConfigManager Config => _app.Services.GetRequiredService<ConfigManager>();

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts the proxy. Throws <see cref="ConfigRejectedException"/> with every error when the config is invalid.</summary>
    public static async Task<ProxyHost> StartAsync(ProxyHostOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelHttpsConfiguration();
        ConfigureLogging(builder.Logging, options);

        var time = options.TimeProvider;
        var catalog = ProxyPlugins.CreateCatalog();
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(catalog);
        builder.Services.AddSingleton(sp => new DecisionLog(sp.GetRequiredService<ILogger<DecisionLog>>(), options.DecisionOutput));
        // Before AddReverseProxy, which only adds its own factory when none is registered.
        builder.Services.AddSingleton<Injection.UpstreamTrust>();
        builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, Injection.InjectingHttpClientFactory>();
        builder.Services.AddReverseProxy()
            .LoadFromMemory([], [])
            .AddTransforms(context =>
            {
                context.AddRequestTransform(UpstreamTransforms.OnRequest);
                context.AddResponseTransform(UpstreamTransforms.OnResponse);
            });
        builder.Services.AddSingleton(sp => new ConfigManager(
            options.ConfigPath,
            new ConfigCompiler(catalog, sp.GetRequiredService<IConfigValidator>(), time, sp.GetRequiredService<ILoggerFactory>())
            {
                WorkloadApi = sp.GetRequiredService<WorkloadApi.WorkloadApiConnections>(),
                Federation = sp.GetRequiredService<Federation.FederationConnections>(),
            },
            sp.GetRequiredService<DecisionLog>(),
            sp.GetRequiredService<ILogger<ConfigManager>>(),
            time)
        { PollInterval = options.ConfigPollInterval });
        // The SPIFFE Workload API clients (spiffe.workloadApi): their streams start with the first config that names the socket.
        builder.Services.AddSingleton(sp => new WorkloadApi.WorkloadApiConnections(time, sp.GetRequiredService<ILoggerFactory>(), connect: true));
        // The federation fetchers (spiffe.federation): a failed refresh is a metric and an audit event.
        builder.Services.AddSingleton(sp =>
        {
            var metrics = sp.GetRequiredService<ProxyMetrics>();
            var audit = sp.GetRequiredService<DecisionLog>();
            var connections = new Federation.FederationConnections(time, sp.GetRequiredService<ILoggerFactory>(), connect: true);
            connections.Succeeded = domain => metrics.FederationRefreshed(domain, ok: true);
            connections.Failed = (fetcher, reason) =>
            {
                metrics.FederationRefreshed(fetcher.Settings.TrustDomain, ok: false);
                audit.Write(AuditEvents.FederationFailed(time.GetUtcNow(), fetcher.Settings.TrustDomain, fetcher.Settings.BundleEndpoint.ToString(), reason, fetcher.Bundle is not null));
            };
            return connections;
        });
        builder.Services.AddSingleton<Federation.BundleEndpoint>();
        builder.Services.AddSingleton(sp => new SigningKeyDirectory(time));
        builder.Services.AddSingleton<Injection.BodyBufferBudget>();
        builder.Services.AddSingleton<AdminEndpoints>();
        builder.Services.AddSingleton<RequestAudit>();
        builder.Services.AddSingleton<ProxyMetrics>();
        builder.Services.AddSingleton<UsageTracker>();
        builder.Services.AddSingleton<SecretFingerprints>();
        builder.Services.AddSingleton<SecretLedger>();
        builder.Services.AddSingleton<UsageStore>();
        builder.Services.AddSingleton(sp => new GrantService(() => sp.GetRequiredService<ConfigManager>().Current, sp.GetRequiredService<CredentialBroker>(),
            sp.GetRequiredService<Redis.RedisConnection>(), sp.GetRequiredService<DecisionLog>(), time, sp.GetRequiredService<ILogger<GrantService>>()));
        builder.Services.AddSingleton<GrantEndpoints>();
        builder.Services.AddSingleton<Approvals.ApprovalWebhook>();
        builder.Services.AddSingleton<Approvals.IdTokenValidator>();
        builder.Services.AddSingleton<Identity.Bearer.BearerTokenAttestor>();
        builder.Services.AddSingleton(sp => new Approvals.ApprovalService(() => sp.GetRequiredService<ConfigManager>().Current, sp.GetRequiredService<GrantService>(),
            sp.GetRequiredService<Approvals.ApprovalWebhook>(), sp.GetRequiredService<DecisionLog>(), time, sp.GetRequiredService<ILogger<Approvals.ApprovalService>>(),
            sp.GetRequiredService<Redis.RedisConnection>()));
        builder.Services.AddSingleton<GrantRequestEndpoints>();
        builder.Services.AddSingleton<WorkloadGrantEndpoints>();
        builder.Services.AddSingleton<InventoryEndpoint>();
        builder.Services.AddSingleton<ConsoleEndpoints>();
        builder.Services.AddSingleton<ICredentialObserver>(sp => new CredentialAudit(sp.GetRequiredService<DecisionLog>(), time, sp.GetRequiredService<ProxyMetrics>()));
        builder.Services.AddSingleton(sp => new CredentialExpiryWatch(() => sp.GetRequiredService<ConfigManager>().Current.Credentials.Values, sp.GetRequiredService<DecisionLog>(), time));
        builder.Services.AddSingleton<Redis.RedisConnection>();
        builder.Services.AddSingleton<SharedCredentialStore>();
        builder.Services.AddSingleton<CredentialBroker>();
        builder.Services.AddSingleton<Posture.PostureSource>();
        builder.Services.AddSingleton<Hooks.DecisionHookClient>();
        builder.Services.AddSingleton<Decisions.AccessDecider>();
        builder.Services.AddSingleton<Postgres.CancelRegistry>();
        builder.Services.AddSingleton<Postgres.PostgresGateway>();
        builder.Services.AddSingleton<Postgres.DynamicRoleSweeps>();
        builder.Services.AddSingleton<MySql.MySqlSessions>();
        builder.Services.AddSingleton<MySql.MySqlUpstreamProbe>();
        builder.Services.AddSingleton<MySql.MySqlGateway>();
        if (options.Tracing is { } tracing)
        {
            Telemetry.Tracing.Add(builder.Services, tracing);
        }
        // Nothing the proxy does needs persisted data-protection keys; keep them in memory.
        builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();

        var bound = new Dictionary<string, ListenOptions>(StringComparer.OrdinalIgnoreCase);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        TransportTuning.Apply(builder.Services);

        var app = builder.Build();
        var manager = app.Services.GetRequiredService<ConfigManager>();
        Subscribe(manager, app.Services);
        try
        {
            await manager.LoadInitialAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        var metrics = app.Services.GetRequiredService<ProxyMetrics>();
        var grants = app.Services.GetRequiredService<GrantService>();
        await grants.StartAsync();
        app.Services.GetRequiredService<Approvals.ApprovalService>().Start();
        metrics.CollectFrom(() => manager.Current.Credentials.Values, () => (manager.Generation, manager.Refusals), app.Services.GetRequiredService<Redis.RedisConnection>(), app.Services.GetRequiredService<DecisionLog>(), () => grants.LiveCount, app.Services.GetRequiredService<Injection.BodyBufferBudget>());
        // Kestrel reads its listen options at start, so listeners come from the config just loaded.
        try
        {
            ConfigureListeners(app.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value, manager, time, app.Services.GetRequiredService<ILogger<ProxyHost>>(), bound, metrics,
                app.Services.GetRequiredService<Postgres.PostgresGateway>(), app.Services.GetRequiredService<MySql.MySqlGateway>(), app.Services.GetRequiredService<RequestAudit>(),
                app.Services.GetRequiredService<Decisions.AccessDecider>());
        }
        catch
        {
            // The container disposes the config manager, the grant service and the rest.
            await app.DisposeAsync();
            throw;
        }

        app.UseMiddleware<EntryMiddleware>();
        app.UseRouting();
        app.MapReverseProxy(proxy =>
        {
            proxy.UseMiddleware<UpstreamErrorMiddleware>();
            proxy.UseMiddleware<ForwardRouteMiddleware>();
            proxy.UseMiddleware<PolicyMiddleware>();
            proxy.UseMiddleware<Mcp.McpMiddleware>();
            proxy.UseMiddleware<CredentialMiddleware>();
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        });
        app.MapFallback(NoRouteEndpoint.HandleAsync);

        await app.StartAsync(cancellationToken);
        AfterBind(manager, app.Services.GetRequiredService<ILogger<ProxyHost>>());
        manager.StartWatching();
        app.Services.GetRequiredService<CredentialExpiryWatch>().Start(TimeSpan.FromSeconds(1));
        var host = new ProxyHost(app, bound);
        var logger = app.Services.GetRequiredService<ILogger<ProxyHost>>();
        foreach (var listener in manager.Current.Listeners)
        {
            Log.Listening(logger, listener.Name, listener.Role.ToString().ToLowerInvariant(),
                listener.UnixSocketPath is { } socket ? "unix:" + socket : host.GetListenerUri(listener.Name).ToString());
        }
        return host;
    }

    /// <summary>
    /// What applying a config means, feature by feature: each subscribes to the manager's events, so the manager
    /// knows none of them. Before the config is current: the audit sink, the cache layers, caches of unchanged
    /// credentials, the published signing keys. Once it is current: YARP's routes and clusters, the metrics'
    /// settings, the body-buffer limit and the start-up sweep of dynamic database roles. Also: a revocation another replica
    /// announced drops this replica's copy, and the periodic cache sweep releases expired credentials to their providers.
    /// </summary>
    private static void Subscribe(ConfigManager manager, IServiceProvider services)
    {
        var decisionLog = services.GetRequiredService<DecisionLog>();
        var broker = services.GetRequiredService<CredentialBroker>();
        var redis = services.GetRequiredService<Redis.RedisConnection>();
        var signingKeys = services.GetRequiredService<SigningKeyDirectory>();
        var yarp = services.GetRequiredService<InMemoryConfigProvider>();
        var metrics = services.GetRequiredService<ProxyMetrics>();
        var bodyBudget = services.GetRequiredService<Injection.BodyBufferBudget>();
        var upstreamTrust = services.GetRequiredService<Injection.UpstreamTrust>();
        var roleSweeps = services.GetRequiredService<Postgres.DynamicRoleSweeps>();
        var posture = services.GetRequiredService<Posture.PostureSource>();
        var hooks = services.GetRequiredService<Hooks.DecisionHookClient>();
        var fingerprints = services.GetRequiredService<SecretFingerprints>();
        var usageStore = services.GetRequiredService<UsageStore>();
        var federation = services.GetRequiredService<Federation.FederationConnections>();
        manager.Applying += (config, replaced) =>
        {
            decisionLog.Configure(config.DecisionLog);
            posture.Configure(config.Posture);
            hooks.Configure(config.DecisionHook);
            redis.Configure(config.Cache.Redis);
            broker.Configure(config.Cache);
            if (replaced is not null)
            {
                // Unchanged credentials keep their cached tokens across the reload.
                foreach (var (name, binding) in config.Credentials)
                {
                    if (replaced.Credentials.TryGetValue(name, out var old))
                    {
                        binding.AdoptCachesFrom(old);
                    }
                }
            }
            signingKeys.Publish(config.Credentials.Values);
            upstreamTrust.Configure(config.Listeners.Where(l => l.ForwardProxy is not null).Select(l => l.ForwardProxy!.UpstreamRoots));
        };
        manager.Applied += config =>
        {
            // Pass-through routes are tunnels the CONNECT front-end opens itself; YARP never sees a request on them.
            yarp.Update([.. config.Routes.Where(r => !Configuration.ReverseProxySection.IsPassthrough(r))], config.Clusters);
            metrics.Configure(config.Metrics);
            bodyBudget.Limit = config.Limits.MaxBufferedBodyBytes;
            roleSweeps.Applied(config);
            federation.Retain(config.Federation);
            // The fingerprint key (file, Redis or this process's) and the periodic write of usage to Redis.
            _ = fingerprints.ConfigureAsync(config.Inventory, redis);
            usageStore.Configure(config.Inventory);
        };
        // Expired credentials (and replaced ones once they expire) go back to their providers, which may drop them upstream.
        manager.Sweeping += (config, now) =>
        {
            foreach (var binding in config.Credentials.Values)
            {
                broker.ReleaseExpired(binding, now);
            }
        };
        services.GetRequiredService<SharedCredentialStore>().RevocationReceived += (credential, workload) =>
        {
            if (manager.Generation > 0 && manager.Current.Credentials.TryGetValue(credential, out var binding))
            {
                broker.RevokeLocal(binding, workload);
            }
        };
    }

    /// <summary>The socket file of a <c>unix:</c> listener.</summary>
    public string GetSocketPath(string name) =>
        Config.Current.Listener(name)?.UnixSocketPath ?? throw new ArgumentException($"no unix: listener '{name}'", nameof(name));

    /// <summary>The address a listener actually bound (port 0 resolved), with a loopback host for wildcard binds; <c>http://localhost/</c> for a Unix socket.</summary>
    public Uri GetListenerUri(string name)
    {
        var listener = Config.Current.Listener(name) ?? throw new ArgumentException($"no listener '{name}'", nameof(name));
        if (listener.UnixSocketPath is not null)
        {
            return new Uri("http://localhost/");
        }
        var endpoint = _bound[name].IPEndPoint;
        var port = endpoint?.Port ?? listener.Port;
        var address = endpoint?.Address ?? IPAddress.Loopback;
        var host = address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : address.ToString();
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !address.Equals(IPAddress.IPv6Any))
        {
            host = $"[{host}]";
        }
        return new Uri($"{(listener.IsHttps ? "https" : listener.Protocol != ListenerProtocol.Http ? "tcp" : "http")}://{host}:{port}/");
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken = default) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        foreach (var listener in Config.Current.Listeners)
        {
            if (listener.UnixSocketPath is { } socket && UnixNative.FileType(socket) == UnixNative.SocketFileType)
            {
                File.Delete(socket);
            }
        }
        // Usage not yet in Redis goes there now, so a restart keeps it.
        var usageStore = _app.Services.GetRequiredService<UsageStore>();
        await usageStore.FlushAsync();
        usageStore.Dispose();
        _app.Services.GetRequiredService<CredentialExpiryWatch>().Dispose();
        _app.Services.GetRequiredService<Approvals.ApprovalService>().Dispose();
        _app.Services.GetRequiredService<GrantService>().Dispose();
        Config.Dispose();
        await _app.Services.GetRequiredService<DecisionLog>().DisposeAsync();
        await _app.DisposeAsync();
    }

    private static void ConfigureLogging(ILoggingBuilder logging, ProxyHostOptions options)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            console.UseUtcTimestamp = true;
        });
        // Logs go to stderr; stdout carries decision records (one JSON object per line).
        logging.Services.Configure<ConsoleLoggerOptions>(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
        logging.SetMinimumLevel(options.LogLevel);
        // YARP logs upstream URLs (with query strings, where a query injector puts a secret) at Information.
        logging.AddFilter("Yarp", LogLevel.Warning);
        logging.AddFilter("Microsoft", LogLevel.Warning);
        // ASP.NET Core starts an Activity for every request while this category is enabled at any level (for log
        // scopes); nothing here logs through it, and without it a request costs no Activity unless tracing is on.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        options.ConfigureLogging?.Invoke(logging);
    }

    private static void ConfigureListeners(KestrelServerOptions kestrel, ConfigManager manager, TimeProvider time, ILogger logger, Dictionary<string, ListenOptions> bound, ProxyMetrics metrics,
        Postgres.PostgresGateway postgres, MySql.MySqlGateway mysql, RequestAudit requests, Decisions.AccessDecider decider)
    {
        foreach (var listener in manager.Current.Listeners)
        {
            var feature = new ListenerFeature(listener.Name, listener.Role);
            var attestor = listener.Attestor;
            var isAdmin = listener.Role == ListenerRole.Admin;
            var tunnel = listener.ForwardProxy is null ? null
                : new Forwarding.ConnectTunnel(connection =>
                {
                    var config = manager.Current;
                    var settings = config.Listener(listener.Name);
                    return connection.Features.Get<IWorkloadIdentityFeature>()?.Current(new AttestationScope(config, time.GetUtcNow(), settings?.Tls?.Bundles, config.LocalIdentities,
                        config.LocalIdentities.Named(settings?.IdentityName)), out _) ?? SvidConnection.NoCertificate;
                }, () => manager.Current.Listener(listener.Name)?.ForwardProxy, () => manager.Current.Routes,
                    async (caller, route, authority, record, cancellationToken) =>
                    {
                        var outcome = await decider.DecideAsync(manager.Current, caller, new Decisions.AccessRequest(route, "CONNECT", authority) { Listener = listener.Name }, record, cancellationToken);
                        return outcome.Refusal is { } refusal ? (refusal, outcome.Detail ?? refusal.Title) : null;
                    }, requests.Completed, listener.Name, time, logger);
            void Configure(ListenOptions listen)
            {
                bound[listener.Name] = listen;
                listen.Protocols = listener.IsHttps || (!isAdmin && attestor is not null) ? listener.Protocols : HttpProtocols.Http1;
                if (tunnel is not null)
                {
                    // Plain connections are HTTP/1.1 (no ALPN); inside a tunnel the TLS handshake's ALPN picks HTTP/2 or HTTP/1.1.
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                }
                listen.Use(next => async connection =>
                {
                    connection.Features.Set<IListenerFeature>(feature);
                    switch (attestor)
                    {
                        case AttestationKind.UnixPeer:
                            // The kernel's word at accept. Proxy callers: the executable and its hash too (selectors, rules, the
                            // inventory); the admin socket needs only credentials and groups.
                            var options = isAdmin ? default : new PeerReadOptions(Executable: true, Hash: true);
                            connection.Features.Set<IWorkloadIdentityFeature>(UnixPeerConnection.Accept(connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionSocketFeature>()?.Socket, options));
                            break;
                        case AttestationKind.Loopback:
                            connection.Features.Set<IWorkloadIdentityFeature>(LoopbackConnection.Accept(connection.RemoteEndPoint));
                            break;
                    }
                    if (listener.Protocol == ListenerProtocol.Postgres)
                    {
                        // The gateway speaks the wire protocol itself (TLS after SSLRequest included); Kestrel's HTTP layer never runs.
                        await postgres.HandleAsync(connection, listener);
                        return;
                    }
                    if (listener.Protocol == ListenerProtocol.MySql)
                    {
                        // The MySQL gateway sends its own greeting and answers SSLRequest itself, as the PostgreSQL one does.
                        await mysql.HandleAsync(connection, listener);
                        return;
                    }
                    if (tunnel is not null && !listener.IsHttps)
                    {
                        await tunnel.HandleAsync(connection, next);
                        return;
                    }
                    await next(connection);
                    if (listener.IsHttps && connection.Features.Get<IWorkloadIdentityFeature>() is not SvidConnection { Checked: true })
                    {
                        metrics.TlsFailed(listener.Name, "handshake_failed");
                    }
                });
                if (listener.Http3Requested)
                {
                    if (ListenerSection.QuicSupported())
                    {
                        Log.Http3NotOnMtls(logger, listener.Name);
                    }
                    else
                    {
                        Log.Http3Unavailable(logger, listener.Name);
                    }
                }
                if (listener.IsHttps)
                {
                    listen.UseHttps(new TlsHandshakeCallbackOptions
                    {
                        OnConnection = context => OnTlsConnection(context, listener, manager, time, logger, metrics),
                    });
                    if (tunnel is not null)
                    {
                        // An mTLS forward proxy (HTTPS_PROXY=https://…): CONNECT arrives inside the caller's TLS session, so
                        // the tunnel reads what the TLS layer decrypted; the caller is the SVID that session verified.
                        listen.Use(next => connection => tunnel.HandleAsync(connection, next));
                    }
                }
            }
            if (listener.UnixSocketPath is { } socketPath)
            {
                UnixSocketFile.Prepare(socketPath);
                kestrel.ListenUnixSocket(socketPath, Configure);
            }
            else if (listener.Address is null)
            {
                kestrel.ListenLocalhost(listener.Port, Configure);
            }
            else
            {
                kestrel.Listen(listener.Address, listener.Port, Configure);
            }
        }
    }

    /// <summary>Once bound: socket files get their mode and owner; the trust each local listener implies is said once.</summary>
    private static void AfterBind(ConfigManager manager, ILogger logger)
    {
        foreach (var listener in manager.Current.Listeners)
        {
            if (listener.UnixSocketPath is { } path)
            {
                UnixSocketFile.Apply(path, listener.Socket);
            }
            if (listener.Attestor == AttestationKind.Loopback && manager.Current.LocalIdentities.Named(listener.IdentityName) is { } identity)
            {
                Log.LoopbackThreatModel(logger, listener.Name, identity.Name, identity.SpiffeId.Value);
            }
            if (listener.Role == ListenerRole.Admin && listener.UnsafeOpenLoopback)
            {
                Log.UnsafeOpenLoopback(logger, listener.Name);
            }
        }
    }

    /// <summary>Per connection: the listener's current certificate and bundles (reloaded with the config), attested by <see cref="X509SvidAttestor"/>.</summary>
    private static ValueTask<SslServerAuthenticationOptions> OnTlsConnection(
        TlsHandshakeCallbackContext context, ListenerSettings startup, ConfigManager manager, TimeProvider time, ILogger logger, ProxyMetrics metrics)
    {
        var tls = manager.Current.Listener(startup.Name)?.Tls ?? startup.Tls!;
        var identity = new SvidConnection();
        context.Connection.Features.Set<IWorkloadIdentityFeature>(identity);
        var connectionId = context.Connection.ConnectionId;
        // A forward-proxy listener speaks HTTP/1.1 to its callers (CONNECT is an HTTP/1.1 request); inside a tunnel the
        // intercepting handshake's ALPN picks HTTP/2 or HTTP/1.1.
        List<SslApplicationProtocol> alpn = startup.ForwardProxy is not null ? [SslApplicationProtocol.Http11] : Alpn(startup.Protocols);
        var options = X509SvidAttestor.HandshakeOptions(identity, tls.Certificate, tls.Bundles, alpn, manager.Current, time, verification =>
        {
            metrics.TlsFailed(startup.Name, verification.Reason!);
            Log.SvidRefused(logger, startup.Name, connectionId, verification.Reason!, verification.Detail!);
        });
        return ValueTask.FromResult(options);
    }

    private static List<SslApplicationProtocol> Alpn(HttpProtocols protocols)
    {
        var list = new List<SslApplicationProtocol>(2);
        if ((protocols & HttpProtocols.Http2) != 0)
        {
            list.Add(SslApplicationProtocol.Http2);
        }
        if ((protocols & HttpProtocols.Http1) != 0)
        {
            list.Add(SslApplicationProtocol.Http11);
        }
        return list;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Information, Message = "Listener {Name} ({Role}) on {Address}")]
        public static partial void Listening(ILogger logger, string name, string role, string address);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Listener {Name} asks for HTTP/3, but QUIC is not available on this host (libmsquic not found): serving HTTP/1.1 and HTTP/2 only")]
        public static partial void Http3Unavailable(ILogger logger, string name);

        [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "Listener {Name} asks for HTTP/3: this host has QUIC, but per-connection SVID verification over QUIC is not implemented yet; serving HTTP/1.1 and HTTP/2 only")]
        public static partial void Http3NotOnMtls(ILogger logger, string name);

        [LoggerMessage(EventId = 1104, Level = LogLevel.Warning, Message = "Listener {Name} is a loopback listener bound to identity '{Identity}' ({SpiffeId}): every process in this network namespace that can reach it is that identity. Use it only where the application is alone in its network namespace (a pod); elsewhere prefer a Unix socket listener, whose callers the kernel names")]
        public static partial void LoopbackThreatModel(ILogger logger, string name, string identity, string spiffeId);

        [LoggerMessage(EventId = 1105, Level = LogLevel.Warning, Message = "Admin listener {Name} has unsafeOpenLoopback: true: every local process (the application too) can create grants, revoke credentials and read the config and inventory. Use an admin socket (url: unix:..., allow: [...]) or an mTLS admin listener")]
        public static partial void UnsafeOpenLoopback(ILogger logger, string name);

        [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Client certificate refused on listener {Listener} (connection {ConnectionId}): {Reason}: {Detail}")]
        public static partial void SvidRefused(ILogger logger, string listener, string connectionId, string reason, string detail);
    }
}
