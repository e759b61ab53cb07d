using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace SecretlessProxy.Audit;

/// <summary>
/// Writes decision records as JSON lines to the configured sink. Requests only enqueue (bounded, never
/// blocking); a background loop writes. When the queue is full, records are dropped and counted.
/// </summary>
public sealed partial class DecisionLog : IAsyncDisposable
{
    private const int Capacity = 10_000;

    // Records are JSON lines for log pipelines, never embedded in HTML: keep quotes and apostrophes readable.
    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Channel<DecisionRecord> _queue = Channel.CreateBounded<DecisionRecord>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly Stream? _stdoutOverride;
    private readonly ILogger _logger;
    private readonly Task _writer;
    private readonly Lock _gate = new();
    private DecisionLogSettings _settings = DecisionLogSettings.Default;
    private Stream? _sink;
    private bool _sinkOwned;
    private long _dropped;

    /// <param name="stdoutOverride">Where 'stdout' records go instead of the process's stdout (tests, the demo).</param>
    public DecisionLog(ILogger<DecisionLog> logger, Stream? stdoutOverride = null)
    {
        _logger = logger;
        _stdoutOverride = stdoutOverride;
        _writer = Task.Run(WriteLoopAsync);
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Configure(DecisionLogSettings settings)
    {
        lock (_gate)
        {
            if (settings == _settings && _sink is not null)
            {
                return;
            }
            CloseSink();
            _settings = settings;
        }
    }

    public void Write(DecisionRecord record)
    {
        if (!_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task WriteLoopAsync()
    {
        var buffer = new MemoryStream();
        while (await _queue.Reader.WaitToReadAsync())
        {
            buffer.SetLength(0);
            await using (var json = new Utf8JsonWriter(buffer, JsonOptions))
            {
                while (_queue.Reader.TryRead(out var record))
                {
                    Format(json, record);
                    await json.FlushAsync();
                    buffer.WriteByte((byte)'\n');
                    json.Reset();
                }
            }
            try
            {
                var sink = Sink();
                if (sink is not null)
                {
                    await sink.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
                    await sink.FlushAsync();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                Log.SinkFailed(_logger, _settings.Sink.ToString(), ex.GetType().Name);
                lock (_gate)
                {
                    CloseSink();
                }
            }
        }
    }

    /// <summary>Formats one record as a JSON object (no trailing newline).</summary>
    public static void Format(Utf8JsonWriter json, DecisionRecord record)
    {
        json.WriteStartObject();
        json.WriteString("time", record.Time);
        json.WriteString("kind", "decision");
        WriteOrNull(json, "requestId", record.RequestId);
        WriteOrNull(json, "listener", record.Listener);
        WriteOrNull(json, "identity", record.Identity);
        WriteOrNull(json, "route", record.Route);
        WriteOrNull(json, "method", record.Method);
        WriteOrNull(json, "path", record.Path);
        WriteOrNull(json, "rule", record.Rule);
        json.WriteString("outcome", record.Outcome);
        WriteOrNull(json, "reason", record.Reason);
        WriteOrNull(json, "credential", record.Credential);
        if (record.CredentialStatic is { } isStatic)
        {
            json.WriteBoolean("credentialStatic", isStatic);
        }
        json.WriteNumber("status", record.Status);
        json.WriteEndObject();
    }

    private static void WriteOrNull(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private Stream? Sink()
    {
        lock (_gate)
        {
            if (_sink is not null)
            {
                return _sink;
            }
            switch (_settings.Sink)
            {
                case DecisionSink.None:
                    return null;
                case DecisionSink.Stdout:
                    _sink = _stdoutOverride ?? Console.OpenStandardOutput();
                    _sinkOwned = _stdoutOverride is null;
                    break;
                case DecisionSink.File:
                    _sink = new FileStream(_settings.Path!, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                    _sinkOwned = true;
                    break;
            }
            return _sink;
        }
    }

    private void CloseSink()
    {
        if (_sinkOwned)
        {
            _sink?.Dispose();
        }
        _sink = null;
        _sinkOwned = false;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer;
        lock (_gate)
        {
            CloseSink();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Decision log sink {Sink} failed ({Error}); reopening on the next record")]
        public static partial void SinkFailed(ILogger logger, string sink, string error);
    }
}
