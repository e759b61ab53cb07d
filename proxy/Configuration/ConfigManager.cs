using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Owns the current <see cref="ProxyConfig"/>: loads it at start, watches the config file and every file it
/// names (certificates, keys, bundles), and on change compiles the new file whole. A valid file is swapped in
/// atomically (our model first, then YARP's routes and clusters); an invalid one is refused with all its
/// errors logged, and the last good config keeps serving.
/// </summary>
public sealed partial class ConfigManager : IDisposable
{
    private static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(30);

    private readonly string _path;
    private readonly ConfigCompiler _compiler;
    private readonly DecisionLog _decisionLog;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _reloadGate = new(1, 1);
    private ProxyConfig? _current;
    private ProxyConfig? _previous;
    private ITimer? _watchTimer;
    private ITimer? _sweepTimer;
    private Dictionary<string, (DateTime, long)> _stamps = [];
    private Dictionary<string, (DateTime, long)>? _pending;
    private long _generation;

    public ConfigManager(string path, ConfigCompiler compiler, DecisionLog decisionLog, ILogger<ConfigManager> logger, TimeProvider time)
    {
        _path = Path.GetFullPath(path);
        _compiler = compiler;
        _decisionLog = decisionLog;
        _logger = logger;
        _time = time;
    }

    /// <summary>The config in force. Never null after <see cref="LoadInitialAsync"/>.</summary>
    public ProxyConfig Current => Volatile.Read(ref _current) ?? throw new InvalidOperationException("no config is loaded yet");

    /// <summary>The config the last reload replaced (null before the first reload); requests routed by YARP just before the swap still use it.</summary>
    public ProxyConfig? Previous => Volatile.Read(ref _previous);

    /// <summary>
    /// Raised with each config about to be applied (at start and on every reload), before any request can see it,
    /// with the config it replaces (null at start): settings that must be in place first (the decision log, the
    /// cache layers, caches carried over, signing keys) subscribe here.
    /// </summary>
    public event Action<ProxyConfig, ProxyConfig?>? Applying;

    /// <summary>
    /// Raised with each config once it is current: YARP's routes, and features that keep settings of their own,
    /// subscribe here instead of reading <see cref="Current"/> on every use.
    /// </summary>
    public event Action<ProxyConfig>? Applied;

    /// <summary>How many configs have been applied (1 after start).</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>The errors of the last refused reload (empty once a reload succeeds).</summary>
    public IReadOnlyList<ConfigError> LastRefusal { get; private set; } = [];

    /// <summary>How many reloads were refused.</summary>
    public long Refusals { get; private set; }

    /// <summary>How often the watched files are checked for changes.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    public async Task LoadInitialAsync()
    {
        var compilation = await _compiler.CompileAsync(_path);
        if (compilation.Config is null)
        {
            throw new ConfigRejectedException(compilation.Errors);
        }
        foreach (var warning in compilation.Warnings)
        {
            Log.ConfigWarning(_logger, warning.ToString());
        }
        Apply(compilation.Config);
        _decisionLog.Write(AuditEvents.Loaded(_time.GetUtcNow(), compilation.Config.FilePath, Generation, compilation.Config.Summary));
        Log.ConfigLoaded(_logger, _path, compilation.Config.Summary);
    }

    public void StartWatching()
    {
        _stamps = Stamp(Current.WatchedFiles);
        _watchTimer = _time.CreateTimer(_ => _ = CheckForChangesAsync(), null, PollInterval, PollInterval);
        _sweepTimer = _time.CreateTimer(_ => SweepIdleCaches(), null, SweepInterval, SweepInterval);
    }

    /// <summary>How often per-workload credential caches whose credential expired unused are forgotten.</summary>
    public TimeSpan SweepInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Raised by the periodic cache sweep with the current config and the time, before idle caches are forgotten:
    /// the broker releases expired credentials here.
    /// </summary>
    public event Action<ProxyConfig, DateTimeOffset>? Sweeping;

    private void SweepIdleCaches()
    {
        var now = _time.GetUtcNow();
        var config = Current;
        try
        {
            Sweeping?.Invoke(config, now);
        }
        catch (Exception ex)
        {
            Log.SweepFailed(_logger, ex.GetType().Name);
        }
        foreach (var binding in config.Credentials.Values)
        {
            binding.SweepIdle(now);
        }
    }

    private async Task CheckForChangesAsync()
    {
        if (!await _reloadGate.WaitAsync(0))
        {
            return;
        }
        try
        {
            var stamps = Stamp(Current.WatchedFiles);
            if (Same(stamps, _stamps))
            {
                _pending = null;
                return;
            }
            // A file caught mid-write (truncated, half written) must not be compiled: reload only once the
            // changed files have stayed the same for one whole poll interval.
            if (_pending is null || !Same(stamps, _pending))
            {
                _pending = stamps;
                return;
            }
            _pending = null;
            _stamps = stamps;
            await ReloadCoreAsync();
        }
        catch (Exception ex)
        {
            Log.ReloadCrashed(_logger, ex);
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    /// <summary>Reloads now; returns true when the new config was applied.</summary>
    public async Task<bool> ReloadAsync()
    {
        await _reloadGate.WaitAsync();
        try
        {
            _stamps = Stamp(Current.WatchedFiles);
            return await ReloadCoreAsync();
        }
        finally
        {
            _reloadGate.Release();
        }
    }

    private async Task<bool> ReloadCoreAsync()
    {
        var compilation = await _compiler.CompileAsync(_path);
        if (compilation.Config is null)
        {
            _decisionLog.Write(AuditEvents.Refused(_time.GetUtcNow(), _path, [.. compilation.Errors.Select(e => e.ToString())]));
            Log.ReloadRefused(_logger, _path, compilation.Errors.Count, string.Join(Environment.NewLine, compilation.Errors));
            // Counted last: whoever watches the count (readiness, tests) sees the refusal already reported.
            LastRefusal = compilation.Errors;
            Refusals++;
            return false;
        }
        var previous = Current;
        foreach (var listener in compilation.Config.Listeners)
        {
            var old = previous.Listener(listener.Name);
            if (old is null || old.BindingKey != listener.BindingKey)
            {
                Log.ListenerNeedsRestart(_logger, listener.Name);
            }
        }
        foreach (var warning in compilation.Warnings)
        {
            Log.ConfigWarning(_logger, warning.ToString());
        }
        LastRefusal = [];
        Apply(compilation.Config);
        _decisionLog.Write(AuditEvents.Reloaded(_time.GetUtcNow(), compilation.Config.FilePath, Generation, compilation.Config.Summary, ConfigChanges.Between(previous, compilation.Config)));
        // Files already watched keep the stamps taken before they were compiled: a file replaced while this reload
        // ran (or just after it was applied) then differs at the next poll and is loaded too. Files the new config
        // added are stamped now.
        var stamps = Stamp(compilation.Config.WatchedFiles);
        foreach (var file in stamps.Keys.ToList())
        {
            if (_stamps.TryGetValue(file, out var before))
            {
                stamps[file] = before;
            }
        }
        _stamps = stamps;
        Log.ConfigReloaded(_logger, _path, compilation.Config.Summary);
        // Requests in flight may still hold the old config's providers: dispose them later.
        _ = Task.Delay(GracePeriod, _time).ContinueWith(_ => previous.Dispose(), TaskScheduler.Default);
        return true;
    }

    private void Apply(ProxyConfig config)
    {
        var replaced = Volatile.Read(ref _current);
        Applying?.Invoke(config, replaced);
        if (replaced is not null)
        {
            config.InternFrom(replaced);
            Volatile.Write(ref _previous, replaced);
        }
        Volatile.Write(ref _current, config);
        Applied?.Invoke(config);
        // Counted last: whoever waits for the generation (readiness, tests) finds every subscriber done.
        Interlocked.Increment(ref _generation);
    }

    private static bool Same(Dictionary<string, (DateTime, long)> a, Dictionary<string, (DateTime, long)> b) =>
        a.Count == b.Count && a.All(pair => b.TryGetValue(pair.Key, out var other) && other == pair.Value);

    private static Dictionary<string, (DateTime, long)> Stamp(IEnumerable<string> files)
    {
        var result = new Dictionary<string, (DateTime, long)>();
        foreach (var file in files)
        {
            try
            {
                var info = new FileInfo(file);
                result[file] = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                result[file] = (DateTime.MinValue, -2);
            }
        }
        return result;
    }

    public void Dispose()
    {
        _watchTimer?.Dispose();
        _sweepTimer?.Dispose();
        _current?.Dispose();
        _reloadGate.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Config loaded from {Path}: {Summary}")]
        public static partial void ConfigLoaded(ILogger logger, string path, string summary);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Config reloaded from {Path}: {Summary}")]
        public static partial void ConfigReloaded(ILogger logger, string path, string summary);

        [LoggerMessage(EventId = 1003, Level = LogLevel.Error, Message = "Config reload refused: {Path} has {Count} error(s); the last good config keeps serving.\n{Errors}")]
        public static partial void ReloadRefused(ILogger logger, string path, int count, string errors);

        [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "Config warning: {Warning}")]
        public static partial void ConfigWarning(ILogger logger, string warning);

        [LoggerMessage(EventId = 1005, Level = LogLevel.Warning, Message = "Listener {Name} was added or its address, protocols or role changed: that takes effect at the next restart")]
        public static partial void ListenerNeedsRestart(ILogger logger, string name);

        [LoggerMessage(EventId = 1006, Level = LogLevel.Error, Message = "Config reload failed unexpectedly; the last good config keeps serving")]
        public static partial void ReloadCrashed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 1007, Level = LogLevel.Error, Message = "A subscriber of the cache sweep failed ({ExceptionType})")]
        public static partial void SweepFailed(ILogger logger, string exceptionType);
    }
}
