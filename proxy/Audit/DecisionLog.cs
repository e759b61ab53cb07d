using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace SecretlessProxy.Audit;

/// <summary>
/// The audit trail: writes decision records and lifecycle events as JSON lines to the configured sink (stdout, a
/// size-rotated file, or none). Callers only enqueue: bounded and never blocking. A background loop writes; when
/// the sink is slow and the queue is full, new records are dropped and counted (<see cref="Dropped"/>), so a
/// stalled sink never slows a request.
/// </summary>
public sealed partial class DecisionLog : IAsyncDisposable
{
    // Records are JSON lines for log pipelines, never embedded in HTML: keep quotes and apostrophes readable.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ConcurrentQueue<AuditRecord> _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    /// <summary>Records per sink write at most.</summary>
    private const int BatchSize = 256;

    /// <summary>How long the writer lets records gather after it wakes (the trail's extra delay, at most).</summary>
    private static readonly TimeSpan BatchWindow = TimeSpan.FromMilliseconds(5);

    private readonly CancellationTokenSource _stopping = new();
    private readonly Stream? _stdoutOverride;
    private readonly ILogger _logger;
    private readonly Task _writer;
    private readonly Lock _gate = new();
    private DecisionLogSettings _settings = DecisionLogSettings.Default;
    private Stream? _stdout;
    private RotatingFileSink? _file;
    private int _queued;
    private int _waiting;
    private volatile int _capacity = DecisionLogSettings.DefaultQueueCapacity;
    private readonly RecentRecords _recent = new(RecentCapacity);
    /// <summary>How many decision records the console can show.</summary>
    public const int RecentCapacity = 500;
    private long _dropped;
    private long _written;
    private int _disposed;

    /// <param name="stdoutOverride">Where 'stdout' records go instead of the process's stdout (tests, the demo).</param>
    public DecisionLog(ILogger<DecisionLog> logger, Stream? stdoutOverride = null)
    {
        _logger = logger;
        _stdoutOverride = stdoutOverride;
        _writer = Task.Run(WriteLoopAsync);
    }

    /// <summary>The newest decision records, as written (JSON, oldest first), for the web console; kept whatever the sink.</summary>
    public IReadOnlyList<string> RecentDecisions => _recent.Snapshot();

    /// <summary>Records dropped because the queue was full (the sink could not keep up).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records handed to the sink.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Records waiting for the sink right now.</summary>
    public int Queued => Volatile.Read(ref _queued);

    public void Configure(DecisionLogSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_gate)
        {
            _capacity = settings.QueueCapacity;
            if (settings == _settings)
            {
                return;
            }
            CloseSinks();
            _settings = settings;
        }
    }

    /// <summary>Queues a record; drops and counts it when the queue is full. Never blocks.</summary>
    public void Write(AuditRecord record)
    {
        if (Interlocked.Increment(ref _queued) > _capacity)
        {
            Interlocked.Decrement(ref _queued);
            Interlocked.Increment(ref _dropped);
            return;
        }
        _queue.Enqueue(record);
        // Wake the writer only when it sleeps: a busy writer drains the queue anyway.
        if (Volatile.Read(ref _waiting) == 1 && Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            _signal.Release();
        }
    }

    private async Task WriteLoopAsync()
    {
        var buffer = new MemoryStream();
        using var json = new Utf8JsonWriter(buffer, JsonOptions);
        while (true)
        {
            if (_queue.IsEmpty)
            {
                Volatile.Write(ref _waiting, 1);
                if (_queue.IsEmpty)
                {
                    if (_stopping.IsCancellationRequested)
                    {
                        return;
                    }
                    try
                    {
                        await _signal.WaitAsync(TimeSpan.FromMilliseconds(200), _stopping.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        // Drain what is left, then stop.
                    }
                }
                Volatile.Write(ref _waiting, 0);
                continue;
            }
            buffer.SetLength(0);
            var count = 0;
            while (count < BatchSize && _queue.TryDequeue(out var record))
            {
                Interlocked.Decrement(ref _queued);
                var start = (int)buffer.Length;
                record.WriteTo(json);
                json.Flush();
                json.Reset();
                if (record is DecisionRecord)
                {
                    _recent.Add(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), start, (int)buffer.Length - start));
                }
                buffer.WriteByte((byte)'\n');
                count++;
            }
            await WriteToSinkAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), count);
            // Let the next records gather for a moment, so a busy proxy writes (and flushes) one batch per interval
            // instead of one per request; a quiet one still writes each record at once. Requests never wait for this.
            if (!_stopping.IsCancellationRequested && Volatile.Read(ref _queued) < BatchSize)
            {
                try
                {
                    await Task.Delay(BatchWindow, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                    // Drain what is left, then stop.
                }
            }
        }
    }

    private async Task WriteToSinkAsync(ReadOnlyMemory<byte> data, int count)
    {
        DecisionLogSettings settings;
        lock (_gate)
        {
            settings = _settings;
        }
        try
        {
            switch (settings.Sink)
            {
                case DecisionSink.Stdout:
                    var stdout = Stdout();
                    await stdout.WriteAsync(data);
                    await stdout.FlushAsync();
                    break;
                case DecisionSink.File:
                    await File(settings).WriteAsync(data);
                    break;
                default:
                    return;
            }
            Interlocked.Add(ref _written, count);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            Interlocked.Add(ref _dropped, count);
            Log.SinkFailed(_logger, settings.Sink.ToString(), ex.GetType().Name);
            lock (_gate)
            {
                CloseSinks();
            }
        }
    }

    /// <summary>Formats one decision record as a JSON object (no trailing newline).</summary>
    public static void Format(Utf8JsonWriter json, DecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(record);
        json.WriteStartObject();
        json.WriteString("time", record.Time);
        json.WriteString("kind", "decision");
        DecisionRecord.WriteOrNull(json, "requestId", record.RequestId);
        DecisionRecord.WriteOrNull(json, "traceId", record.TraceId);
        DecisionRecord.WriteOrNull(json, "listener", record.Listener);
        DecisionRecord.WriteOrNull(json, "identity", record.Identity);
        if (record.Attestation is not null)
        {
            json.WriteString("attestation", record.Attestation);
        }
        if (record.Peer is { } peer)
        {
            json.WriteStartObject("peer");
            json.WriteNumber("uid", peer.Uid);
            json.WriteNumber("gid", peer.Gid);
            json.WriteNumber("pid", peer.Pid);
            if (peer.ExecutablePath is not null)
            {
                json.WriteString("path", peer.ExecutablePath);
            }
            if (peer.Sha256 is not null)
            {
                json.WriteString("sha256", peer.Sha256);
            }
            json.WriteEndObject();
        }
        if (record.Protocol is null or DecisionRecord.TunnelProtocol)
        {
            DecisionRecord.WriteOrNull(json, "route", record.Route);
            DecisionRecord.WriteOrNull(json, "method", record.Method);
            DecisionRecord.WriteOrNull(json, "pathTemplate", record.PathTemplate);
        }
        else
        {
            DecisionRecord.WriteOrNull(json, "database", record.Route);
            DecisionRecord.WriteOrNull(json, "role", record.Method);
        }
        DecisionRecord.WriteOrNull(json, "rule", record.Rule);
        json.WriteString("outcome", record.Outcome);
        DecisionRecord.WriteOrNull(json, "reason", record.Reason);
        if (record.ContextFacts is { } contextFacts)
        {
            json.WriteString("contextFacts", contextFacts);
        }
        if (record.Hook is { } hook)
        {
            json.WriteStartObject("hook");
            json.WriteString("outcome", hook);
            DecisionRecord.WriteOrNull(json, "reason", record.HookReason);
            json.WriteBoolean("cached", record.HookCached);
            json.WriteEndObject();
        }
        DecisionRecord.WriteOrNull(json, "credential", record.Credential);
        if (record.Credential is not null)
        {
            DecisionRecord.WriteOrNull(json, "credentialProvider", record.CredentialProvider);
            if (record.CredentialStore is { } store)
            {
                json.WriteString("credentialStore", store);
            }
            if (record.CredentialLeaseId is { } lease)
            {
                json.WriteString("leaseId", lease);
            }
            if (record.CredentialVersion is { } version)
            {
                json.WriteString("credentialVersion", version);
            }
        }
        if (record.CredentialStatic is { } isStatic)
        {
            json.WriteBoolean("credentialStatic", isStatic);
        }
        if (DecisionRecord.SourceName(record.CredentialSource) is { } source)
        {
            json.WriteString("credentialSource", source);
            if (record.CredentialExpiresAt is { } expiresAt)
            {
                json.WriteString("credentialExpiresAt", expiresAt);
            }
            else
            {
                json.WriteNull("credentialExpiresAt");
            }
        }
        if (record.Protocol is DecisionRecord.TunnelProtocol)
        {
            // An opaque tunnel: the status is the answer to its CONNECT.
            json.WriteString("protocol", DecisionRecord.TunnelProtocol);
            json.WriteNumber("status", record.Status);
        }
        else if (record.Protocol is { } protocol)
        {
            // A database session: the outcome is its login; a refusal carries the SQLSTATE the client got.
            json.WriteString("protocol", protocol);
            if (record.SqlState is { } sqlState)
            {
                json.WriteString("sqlState", sqlState);
            }
            if (record.UpstreamAuth is { } upstreamAuth)
            {
                json.WriteString("upstreamAuth", upstreamAuth);
            }
        }
        else
        {
            json.WriteNumber("status", record.Status);
        }
        if (record.UpstreamStatus is { } upstreamStatus)
        {
            json.WriteNumber("upstreamStatus", upstreamStatus);
        }
        if (record.BytesUp is { } bytesUp)
        {
            json.WriteNumber("bytesUp", bytesUp);
            json.WriteNumber("bytesDown", record.BytesDown ?? 0);
        }
        record.Mcp?.WriteTo(json);
        if (record.RedactedInHeaders + record.RedactedInBody > 0)
        {
            json.WriteStartObject("redactions");
            json.WriteNumber("headers", record.RedactedInHeaders);
            json.WriteNumber("body", record.RedactedInBody);
            json.WriteEndObject();
        }
        if (record.UpstreamLatency is { } latency)
        {
            json.WriteNumber("upstreamLatencyMs", Math.Round(latency.TotalMilliseconds, 3));
        }
        if (record.CompletedAt != 0)
        {
            json.WriteNumber("durationMs", Math.Round(record.Duration.TotalMilliseconds, 3));
        }
        json.WriteEndObject();
    }

    private Stream Stdout()
    {
        lock (_gate)
        {
            return _stdout ??= _stdoutOverride ?? Console.OpenStandardOutput();
        }
    }

    private RotatingFileSink File(DecisionLogSettings settings)
    {
        lock (_gate)
        {
            return _file ??= new RotatingFileSink(settings.Path!, settings.MaxFileBytes, settings.MaxFiles);
        }
    }

    private void CloseSinks()
    {
        if (_stdout is not null && !ReferenceEquals(_stdout, _stdoutOverride))
        {
            _stdout.Dispose();
        }
        _stdout = null;
        _file?.Dispose();
        _file = null;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _stopping.CancelAsync();
        await _writer;
        lock (_gate)
        {
            CloseSinks();
        }
        _signal.Dispose();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Audit sink {Sink} failed ({Error}); the batch was dropped and the sink reopens on the next record")]
        public static partial void SinkFailed(ILogger logger, string sink, string error);
    }
}
