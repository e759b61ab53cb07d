using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using k8s;
using k8s.Authentication;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Kubernetes;

/// <summary>
/// Reads the Secret once (GET), then watches it (a <c>watch=true</c> list on its name from the GET's
/// resourceVersion): an ADDED or MODIFIED event replaces the value, DELETED drops it. Requests are served from
/// memory; only with no value held does a request wait for a GET. A broken watch is re-established after a GET
/// (which also catches changes made while it was down), with backoff.
/// </summary>
internal sealed partial class KubernetesSecretProvider : ICredentialProvider
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly KubernetesSecretSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly k8s.Kubernetes _client;
    private readonly k8s.Kubernetes _watchClient;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _fetch = new(1, 1);
    private Credential? _current;
    private string? _resourceVersion;
    private Task? _watch;
    private int _disposed;

    public KubernetesSecretProvider(KubernetesSecretSettings settings, TimeProvider time, ILoggerFactory loggers)
    {
        _settings = settings;
        _time = time;
        _logger = loggers.CreateLogger("SecretlessProxy.Plugins.Kubernetes");
        _client = new k8s.Kubernetes(Configuration(settings, settings.Timeout));
        _watchClient = new k8s.Kubernetes(Configuration(settings, System.Threading.Timeout.InfiniteTimeSpan));
    }

    private static KubernetesClientConfiguration Configuration(KubernetesSecretSettings settings, TimeSpan timeout) => new()
    {
        Host = settings.ApiServer.ToString(),
        // Re-read when it is near its refresh time (the kubelet rotates projected tokens).
        TokenProvider = new TokenFileAuth(settings.TokenFile),
        SslCaCerts = settings.CaFile is { } ca ? LoadCa(ca) : null,
        HttpClientTimeout = timeout,
    };

    private static X509Certificate2Collection LoadCa(string file)
    {
        var collection = new X509Certificate2Collection();
        if (File.Exists(file))
        {
            collection.ImportFromPemFile(file);
        }
        return collection;
    }

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        if (_current is { } current)
        {
            return current;
        }
        await _fetch.WaitAsync(cancellationToken);
        try
        {
            if (_current is { } fetched)
            {
                return fetched;
            }
            var secret = await ReadAsync(_stop.Token);
            var credential = Apply(secret, initial: true) ?? throw Unavailable($"Secret {_settings.Namespace}/{_settings.Name} has no key '{_settings.Key}'", outage: false);
            _watch ??= Task.Run(() => WatchLoopAsync(_stop.Token), CancellationToken.None);
            return credential;
        }
        finally
        {
            _fetch.Release();
        }
    }

    private async Task<V1Secret> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var secret = await _client.CoreV1.ReadNamespacedSecretAsync(_settings.Name, _settings.Namespace, cancellationToken: cancellationToken);
            _resourceVersion = secret.Metadata?.ResourceVersion;
            return secret;
        }
        catch (HttpOperationException ex)
        {
            var status = ex.Response.StatusCode;
            var what = $"the Kubernetes API at {SafeUrl.Display(_settings.ApiServer)} answered HTTP {(int)status} for Secret {_settings.Namespace}/{_settings.Name}";
            throw Unavailable(status switch
            {
                HttpStatusCode.NotFound => $"Secret {_settings.Namespace}/{_settings.Name} does not exist",
                HttpStatusCode.Unauthorized => what + " (the service-account token was not accepted)",
                HttpStatusCode.Forbidden => what + " (the service account may not get it: grant get and watch on it in a Role)",
                _ => what,
            }, outage: (int)status >= 500 || status == HttpStatusCode.TooManyRequests);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw Unavailable($"the Kubernetes API at {SafeUrl.Display(_settings.ApiServer)} could not be reached ({ex.GetType().Name})", outage: true);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or FileNotFoundException or DirectoryNotFoundException)
        {
            throw Unavailable($"the service-account token file '{_settings.TokenFile}' could not be read ({ex.GetType().Name})", outage: false);
        }
    }

    /// <summary>Takes the key's value from <paramref name="secret"/>; null (and no value held) when the key is missing.</summary>
    private Credential? Apply(V1Secret secret, bool initial)
    {
        if (secret.Data is null || !secret.Data.TryGetValue(_settings.Key, out var bytes) || bytes is null)
        {
            _current = null;
            if (!initial)
            {
                Log.KeyMissing(_logger, _settings.CredentialName, _settings.Namespace, _settings.Name, _settings.Key);
            }
            return null;
        }
        var value = Encoding.UTF8.GetString(bytes).TrimEnd('\r', '\n');
        string? username = null;
        if (_settings.UsernameKey is { } usernameKey && secret.Data.TryGetValue(usernameKey, out var user) && user is not null)
        {
            username = Encoding.UTF8.GetString(user).TrimEnd('\r', '\n');
        }
        var previous = _current;
        if (previous is not null && previous.Secret.Reveal() == value && previous.Username == username)
        {
            return previous;
        }
        var credential = new Credential(_settings.CredentialName, new SecretValue(value)) { Username = username, IsStatic = true };
        _current = credential;
        if (!initial)
        {
            Log.Changed(_logger, _settings.CredentialName, _settings.Namespace, _settings.Name, secret.Metadata?.ResourceVersion ?? "");
        }
        return credential;
    }

    private async Task WatchLoopAsync(CancellationToken stop)
    {
        var backoff = MinBackoff;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var events = _watchClient.CoreV1.WatchListNamespacedSecretAsync(
                    _settings.Namespace,
                    fieldSelector: "metadata.name=" + _settings.Name,
                    resourceVersion: _resourceVersion,
                    cancellationToken: stop);
                await foreach (var (type, secret) in events.WithCancellation(stop))
                {
                    backoff = MinBackoff;
                    _resourceVersion = secret.Metadata?.ResourceVersion ?? _resourceVersion;
                    switch (type)
                    {
                        case WatchEventType.Added or WatchEventType.Modified:
                            Apply(secret, initial: false);
                            break;
                        case WatchEventType.Deleted:
                            _current = null;
                            Log.Deleted(_logger, _settings.CredentialName, _settings.Namespace, _settings.Name);
                            break;
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.WatchFailed(_logger, _settings.CredentialName, _settings.Namespace, _settings.Name, ex.GetType().Name);
            }
            try
            {
                await Task.Delay(backoff, _time, stop);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                // Catch up on what changed while the watch was down (and get a resourceVersion to resume from).
                Apply(await ReadAsync(stop), initial: false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (CredentialUnavailableException ex)
            {
                Log.ResyncFailed(_logger, _settings.CredentialName, ex.Reason);
            }
        }
    }

    private CredentialUnavailableException Unavailable(string reason, bool outage) => new(_settings.CredentialName, reason, outage);

    /// <summary>Stops the watch. Idempotent: the host may dispose a binding more than once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        _client.Dispose();
        _watchClient.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7201, Level = LogLevel.Information, Message = "Credential {Credential}: Secret {Namespace}/{Name} changed (resourceVersion {ResourceVersion}), applied from the watch")]
        public static partial void Changed(ILogger logger, string credential, string @namespace, string name, string resourceVersion);

        [LoggerMessage(EventId = 7202, Level = LogLevel.Warning, Message = "Credential {Credential}: Secret {Namespace}/{Name} was deleted")]
        public static partial void Deleted(ILogger logger, string credential, string @namespace, string name);

        [LoggerMessage(EventId = 7203, Level = LogLevel.Warning, Message = "Credential {Credential}: Secret {Namespace}/{Name} has no key {Key}")]
        public static partial void KeyMissing(ILogger logger, string credential, string @namespace, string name, string key);

        [LoggerMessage(EventId = 7204, Level = LogLevel.Warning, Message = "Credential {Credential}: the watch on Secret {Namespace}/{Name} ended ({Error}); re-establishing it")]
        public static partial void WatchFailed(ILogger logger, string credential, string @namespace, string name, string error);

        [LoggerMessage(EventId = 7205, Level = LogLevel.Warning, Message = "Credential {Credential}: re-reading the Secret failed: {Reason}")]
        public static partial void ResyncFailed(ILogger logger, string credential, string reason);
    }
}
