using System.Buffers;

namespace SecretlessProxy.Injection;

/// <summary>
/// A request body held in memory as pooled segments of <see cref="SegmentSize"/> bytes, each reserved in the
/// <see cref="BodyBufferBudget"/> as it is filled: memory follows the bytes that arrived, never a promised length,
/// and no segment lands on the large-object heap. Read back once, front to back, as the body YARP forwards.
/// Disposing it returns the segments and the reservation.
/// </summary>
internal sealed class SegmentedBody(BodyBufferBudget budget) : Stream
{
    public const int SegmentSize = 64 * 1024;

    private readonly List<byte[]> _segments = [];
    private long _length;
    private long _reserved;
    private long _position;
    private bool _disposed;

    /// <summary>Appends bytes; false when the budget has no room for a new segment (nothing is appended then).</summary>
    public bool TryAppend(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            var used = (int)(_length % SegmentSize);
            if (used == 0 && _length == _segments.Count * (long)SegmentSize)
            {
                if (!budget.TryReserve(SegmentSize))
                {
                    return false;
                }
                _reserved += SegmentSize;
                _segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
            }
            var segment = _segments[^1];
            var count = Math.Min(SegmentSize - used, data.Length);
            data[..count].CopyTo(segment.AsSpan(used));
            _length += count;
            data = data[count..];
        }
        return true;
    }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => _position = Math.Clamp(value, 0, _length);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var total = 0;
        while (!buffer.IsEmpty && _position < _length)
        {
            var segment = _segments[(int)(_position / SegmentSize)];
            var at = (int)(_position % SegmentSize);
            var count = (int)Math.Min(Math.Min(SegmentSize - at, buffer.Length), _length - _position);
            segment.AsSpan(at, count).CopyTo(buffer);
            buffer = buffer[count..];
            _position += count;
            total += count;
        }
        return total;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => _length + offset,
    };

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            foreach (var segment in _segments)
            {
                ArrayPool<byte>.Shared.Return(segment);
            }
            _segments.Clear();
            budget.Release(_reserved);
            _reserved = 0;
        }
        base.Dispose(disposing);
    }
}
