using System.Collections.Frozen;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Posture;

/// <summary>
/// The context facts of each identity, as the configured posture source last reported them. A timer reads the
/// source in the background (a file when its size or modification time changed, an HTTP endpoint every interval);
/// readers get the last snapshot and never wait or touch the disk or network. Facts are as old as the last read
/// that delivered them: when the file is no longer rewritten, or the endpoint stops answering, they pass
/// <see cref="PostureSettings.MaxAge"/> and count as unknown.
/// </summary>
public sealed partial class PostureSource(TimeProvider time, ILogger<PostureSource> logger) : IDisposable
{
    private static readonly FrozenDictionary<string, ContextFacts> None = FrozenDictionary<string, ContextFacts>.Empty;

    private readonly Lock _gate = new();
    private PostureSettings? _settings;
    private ITimer? _timer;
    private HttpClient? _http;
    private (DateTime Modified, long Length)? _fileStamp;
    private volatile Snapshot _snapshot = new(None, DateTimeOffset.MinValue, null);
    private int _polling;

    private sealed record Snapshot(FrozenDictionary<string, ContextFacts> Facts, DateTimeOffset AsOf, PostureSettings? Settings);

    /// <summary>When the source last delivered facts (MinValue before the first read).</summary>
    public DateTimeOffset AsOf => _snapshot.AsOf;

    /// <summary>How many identities the last read reported.</summary>
    public int Count => _snapshot.Facts.Count;

    /// <summary>Raised after a read delivered facts (tests, metrics).</summary>
    public event Action? Refreshed;

    /// <summary>The facts of <paramref name="identity"/> if the source reported some no longer than maxAge ago; else null (unknown).</summary>
    public ContextFacts? FactsOf(string identity, DateTimeOffset now)
    {
        var snapshot = _snapshot;
        if (snapshot.Settings is not { } settings || now - snapshot.AsOf > settings.MaxAge)
        {
            return null;
        }
        return snapshot.Facts.GetValueOrDefault(identity);
    }

    /// <summary>Applies a config's <c>posture</c> section (null: none); a changed source is read again at once.</summary>
    public void Configure(PostureSettings? settings)
    {
        lock (_gate)
        {
            if (settings == _settings)
            {
                return;
            }
            _timer?.Dispose();
            _timer = null;
            _http?.Dispose();
            _http = null;
            _fileStamp = null;
            _settings = settings;
            _snapshot = new Snapshot(None, DateTimeOffset.MinValue, settings);
            if (settings is null)
            {
                return;
            }
            if (settings.Url is not null)
            {
                _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = settings.Timeout };
            }
            _timer = time.CreateTimer(_ => _ = PollAsync(settings), null, TimeSpan.Zero, settings.PollInterval);
        }
    }

    /// <summary>Reads the source once now (start-up, tests).</summary>
    public Task RefreshAsync() => _settings is { } settings ? PollAsync(settings) : Task.CompletedTask;

    private async Task PollAsync(PostureSettings settings)
    {
        if (Interlocked.Exchange(ref _polling, 1) == 1)
        {
            return;
        }
        try
        {
            byte[]? body = settings.FilePath is { } path ? ReadFileIfChanged(path) : await FetchAsync(settings);
            if (body is null || !ReferenceEquals(settings, _settings))
            {
                return;
            }
            var facts = PostureDocument.Parse(body, out var skipped, out var error);
            if (facts is null)
            {
                Log.Unreadable(logger, settings.Describe, error!);
                return;
            }
            if (skipped > 0)
            {
                Log.Skipped(logger, settings.Describe, skipped);
            }
            var now = time.GetUtcNow();
            _snapshot = new Snapshot(facts.ToFrozenDictionary(f => f.Key, f => new ContextFacts(f.Value, now), StringComparer.Ordinal), now, settings);
            Refreshed?.Invoke();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or HttpRequestException or TaskCanceledException)
        {
            Log.Failed(logger, settings.Describe, ex.GetType().Name);
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
    }

    private byte[]? ReadFileIfChanged(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            if (_fileStamp is not null)
            {
                // The file is gone: what it said is unknown from now on.
                _fileStamp = null;
                _snapshot = new Snapshot(None, DateTimeOffset.MinValue, _settings);
                Log.Gone(logger, path);
            }
            return null;
        }
        var stamp = (info.LastWriteTimeUtc, info.Length);
        if (_fileStamp == stamp)
        {
            return null;
        }
        if (info.Length > PostureSettings.MaxBytes)
        {
            Log.Unreadable(logger, path, $"the file is larger than {PostureSettings.MaxBytes} bytes");
            _fileStamp = stamp;
            return null;
        }
        var body = File.ReadAllBytes(path);
        _fileStamp = stamp;
        return body;
    }

    private async Task<byte[]?> FetchAsync(PostureSettings settings)
    {
        var http = _http;
        if (http is null)
        {
            return null;
        }
        using var response = await http.GetAsync(settings.Url, HttpCompletionOption.ResponseHeadersRead);
        if (!response.IsSuccessStatusCode)
        {
            Log.Failed(logger, settings.Describe, "HTTP " + (int)response.StatusCode);
            return null;
        }
        if (response.Content.Headers.ContentLength > PostureSettings.MaxBytes)
        {
            Log.Unreadable(logger, settings.Describe, $"the answer is larger than {PostureSettings.MaxBytes} bytes");
            return null;
        }
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk)) > 0)
        {
            if (buffer.Length + read > PostureSettings.MaxBytes)
            {
                Log.Unreadable(logger, settings.Describe, $"the answer is larger than {PostureSettings.MaxBytes} bytes");
                return null;
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _timer?.Dispose();
            _http?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 6001, Level = LogLevel.Warning, Message = "Posture source {Source} could not be read ({Problem}); its last facts stay until they pass maxAge")]
        public static partial void Failed(ILogger logger, string source, string problem);

        [LoggerMessage(EventId = 6002, Level = LogLevel.Warning, Message = "Posture source {Source} is not a posture document: {Problem}; its last facts stay until they pass maxAge")]
        public static partial void Unreadable(ILogger logger, string source, string problem);

        [LoggerMessage(EventId = 6003, Level = LogLevel.Warning, Message = "Posture source {Source}: {Count} entries skipped (the key is not a SPIFFE ID or the value not an object of facts)")]
        public static partial void Skipped(ILogger logger, string source, int count);

        [LoggerMessage(EventId = 6004, Level = LogLevel.Warning, Message = "Posture file {Path} was removed: every caller's context facts are unknown until it is back")]
        public static partial void Gone(ILogger logger, string path);
    }
}
