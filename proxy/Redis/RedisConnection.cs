using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace SecretlessProxy.Redis;

/// <summary>
/// The one connection to the Redis replicas share (<c>cache.redis</c>): connects, reconnects on a changed config
/// and disconnects, says whether it is available, counts failures, and carries pub/sub channels, which survive
/// reconnects. Best effort throughout: when Redis is down or slow every user carries on without it, a warning is
/// logged once, and the multiplexer reconnects by itself. The credential store and the grant store are built on it.
/// </summary>
public sealed partial class RedisConnection(ILogger<RedisConnection> logger) : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<(string Channel, Action<RedisValue> Handler)> _subscriptions = [];
    private volatile Connection? _connection;
    private volatile RedisSettings? _settings;
    private long _failures;

    /// <summary>This process's id in messages it publishes, so it can ignore its own.</summary>
    public string ReplicaId { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>The settings in force (null when Redis is not configured).</summary>
    public RedisSettings? Settings => _settings;

    /// <summary>True when <c>cache.redis</c> is configured.</summary>
    public bool IsConfigured => _settings is not null;

    /// <summary>True when Redis is configured and connected right now.</summary>
    public bool IsAvailable => _connection?.Multiplexer is { IsConnected: true };

    /// <summary>Redis operations that failed or timed out (the proxy carried on without them).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Calls <paramref name="handler"/> for every message on <c>PREFIX + channel</c>, on this and every later connection.</summary>
    public void Subscribe(string channel, Action<RedisValue> handler)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(handler);
        Connection? live;
        lock (_gate)
        {
            _subscriptions.Add((channel, handler));
            live = _connection;
        }
        if (live?.Multiplexer is { } multiplexer)
        {
            _ = multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal(live.Prefix + channel), (_, message) => handler(message));
        }
    }

    /// <summary>Applies the <c>cache.redis</c> settings of a (re)loaded config: connects, reconnects or disconnects.</summary>
    public void Configure(RedisSettings? settings)
    {
        Connection? retired = null;
        lock (_gate)
        {
            var current = _connection;
            if (settings is not null && current is not null && current.Key == settings.ConnectionKey)
            {
                _settings = settings;
                return;
            }
            retired = current;
            _connection = settings is null ? null : Connect(settings);
            _settings = settings;
        }
        retired?.Dispose();
    }

    private Connection Connect(RedisSettings settings)
    {
        var options = ConfigurationOptions.Parse(settings.Configuration);
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        var timeout = (int)settings.OperationTimeout.TotalMilliseconds;
        options.SyncTimeout = timeout;
        options.AsyncTimeout = timeout;
        options.ConnectTimeout = Math.Max(timeout, 1000);
        options.ClientName ??= "secretless-proxy";
        if (settings.Password is not null)
        {
            options.Password = settings.Password;
        }
        var connection = new Connection(settings.ConnectionKey, settings.KeyPrefix);
        Log.Connecting(logger, string.Join(", ", options.EndPoints.Select(e => e.ToString())));
        _ = ConnectAsync(connection, options);
        return connection;
    }

    private async Task ConnectAsync(Connection connection, ConfigurationOptions options)
    {
        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(options);
            multiplexer.ConnectionFailed += (_, e) => Log.Unavailable(logger, e.EndPoint?.ToString() ?? "?", e.FailureType.ToString());
            multiplexer.ConnectionRestored += (_, e) => Log.Restored(logger, e.EndPoint?.ToString() ?? "?");
            if (!connection.Attach(multiplexer))
            {
                await multiplexer.DisposeAsync();
                return;
            }
            if (!multiplexer.IsConnected)
            {
                Log.Unavailable(logger, string.Join(", ", options.EndPoints.Select(e => e.ToString())), "not reachable at start");
            }
            List<(string Channel, Action<RedisValue> Handler)> subscriptions;
            lock (_gate)
            {
                subscriptions = [.. _subscriptions];
            }
            foreach (var (channel, handler) in subscriptions)
            {
                await multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal(connection.Prefix + channel), (_, message) => handler(message));
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // abortConnect=false keeps retrying in the background; this is only the first attempt's report.
            Interlocked.Increment(ref _failures);
            Log.OperationFailed(logger, "connect", ex.GetType().Name);
        }
    }

    /// <summary>The database and the settings, or nulls when Redis is not connected right now.</summary>
    public (IDatabase? Db, RedisSettings? Settings) Database()
    {
        var multiplexer = _connection?.Multiplexer;
        return multiplexer is { IsConnected: true } ? (multiplexer.GetDatabase(), _settings) : (null, null);
    }

    /// <summary>What a Redis call throws when Redis is down, slow or being reconnected.</summary>
    public static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException or ObjectDisposedException or InvalidOperationException;

    /// <summary>Counts and logs (type only) a failed operation the caller carries on without.</summary>
    public void Failed(string operation, Exception ex)
    {
        Interlocked.Increment(ref _failures);
        Log.OperationFailed(logger, operation, ex.GetType().Name);
    }

    /// <summary>Publishes <paramref name="message"/> on <c>PREFIX + channel</c>.</summary>
    public Task PublishAsync(IDatabase db, string channel, string message)
    {
        ArgumentNullException.ThrowIfNull(db);
        return db.Multiplexer.GetSubscriber().PublishAsync(RedisChannel.Literal((_settings?.KeyPrefix ?? "") + channel), message);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _connection?.Dispose();
            _connection = null;
        }
    }

    private sealed class Connection(string key, string prefix) : IDisposable
    {
        private volatile ConnectionMultiplexer? _multiplexer;
        private volatile bool _disposed;

        public string Key { get; } = key;

        public string Prefix { get; } = prefix;

        public ConnectionMultiplexer? Multiplexer => _multiplexer;

        public bool Attach(ConnectionMultiplexer multiplexer)
        {
            _multiplexer = multiplexer;
            return !_disposed;
        }

        public void Dispose()
        {
            _disposed = true;
            var multiplexer = _multiplexer;
            _multiplexer = null;
            // Requests may still be using it for a moment: close in the background.
            _ = Task.Run(async () =>
            {
                if (multiplexer is not null)
                {
                    await Task.Delay(TimeSpan.FromSeconds(2));
                    await multiplexer.DisposeAsync();
                }
            });
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Information, Message = "Redis credential cache: connecting to {Endpoints}")]
        public static partial void Connecting(ILogger logger, string endpoints);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Redis credential cache unavailable at {Endpoint} ({Failure}): serving from the in-memory cache and the providers; reconnecting in the background")]
        public static partial void Unavailable(ILogger logger, string endpoint, string failure);

        [LoggerMessage(EventId = 3103, Level = LogLevel.Information, Message = "Redis credential cache reconnected to {Endpoint}")]
        public static partial void Restored(ILogger logger, string endpoint);

        [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "Redis credential cache: {Operation} failed ({Error}); carrying on without it")]
        public static partial void OperationFailed(ILogger logger, string operation, string error);
    }
}
