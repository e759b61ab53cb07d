using System.Text;
using System.Text.Json;

namespace SecretlessProxy.IntegrationTests.Infrastructure;

/// <summary>A write-only stream that keeps what is written (the proxy's decision records).</summary>
public sealed class CapturedStream : Stream
{
    private readonly Lock _gate = new();
    private readonly MemoryStream _buffer = new();

    public string Text
    {
        get
        {
            lock (_gate)
            {
                return Encoding.UTF8.GetString(_buffer.ToArray());
            }
        }
    }

    public List<JsonElement> Records() =>
        Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();

    /// <summary>Waits (up to 30 s) for a record that satisfies <paramref name="match"/>.</summary>
    public async Task<JsonElement> WaitForRecordAsync(Func<JsonElement, bool> match)
    {
        JsonElement found = default;
        await Eventually.Until(() => (found = Records().FirstOrDefault(record => Matches(match, record))).ValueKind != JsonValueKind.Undefined,
            "a matching audit record is written", TimeSpan.FromSeconds(30), () => "records so far:\n" + Text);
        return found;
    }

    /// <summary>Decision records only (lifecycle events have another <c>kind</c>).</summary>
    public List<JsonElement> DecisionRecords() => Records().Where(r => r.GetProperty("kind").GetString() == "decision").ToList();

    /// <summary>Lifecycle events of one kind (<c>credential.issued</c>, <c>grant.expired</c>, ...).</summary>
    public List<JsonElement> Events(string kind) => Records().Where(r => r.GetProperty("kind").GetString() == kind).ToList();

    // A record without the field the test looks at (an event, not a decision) does not match.
    private static bool Matches(Func<JsonElement, bool> match, JsonElement record)
    {
        try
        {
            return match(record);
        }
        catch (KeyNotFoundException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        lock (_gate)
        {
            _buffer.Write(buffer, offset, count);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer, offset, count);
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            _buffer.Write(buffer.Span);
        }
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
