using System.Buffers;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Audit;
using SecretlessProxy.Injection;

namespace SecretlessProxy.Pipeline;

/// <summary>
/// Wraps the response body on a route that masks the injected credential: every form of it in the first
/// <c>scanLimit</c> bytes is overwritten with <c>*</c> before it reaches the caller. A form split across two writes
/// is caught by holding back the end of a write that could begin one (never more than a form's length). Bodies
/// with a <c>Content-Encoding</c> cannot be read, and stream through unscanned. Lengths never change.
/// </summary>
internal sealed class MaskingResponseBody(Stream inner, HttpResponse response, EchoMask mask, long scanLimit, DecisionRecord record) : Stream
{
    private byte[]? _held;
    private int _heldCount;
    private long _scanned;
    private bool? _encoded;

    /// <summary>Bodies that went through unscanned because they were compressed.</summary>
    public bool SkippedEncoded => _encoded == true;

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    // What is held back may begin a credential: it is written once the next bytes (or the end) show it does not.
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        _encoded ??= response.Headers.ContentEncoding is { Count: > 0 } encoding && !string.Equals(encoding.ToString(), "identity", StringComparison.OrdinalIgnoreCase);
        if (_encoded == true || _scanned >= scanLimit)
        {
            await ReleaseHeldAsync(cancellationToken);
            await inner.WriteAsync(data, cancellationToken);
            return;
        }
        var total = _heldCount + data.Length;
        var work = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            _held?.AsSpan(0, _heldCount).CopyTo(work);
            data.Span.CopyTo(work.AsSpan(_heldCount));
            _scanned += data.Length;
            record.RedactedInBody += mask.MaskInPlace(work.AsSpan(0, total));
            var hold = _scanned < scanLimit ? mask.PendingPrefix(work.AsSpan(0, total)) : 0;
            var send = total - hold;
            if (hold > 0)
            {
                // Rare (a write that ends like the start of a credential): only then is a buffer kept.
                _held ??= new byte[mask.LongestUtf8];
                work.AsSpan(send, hold).CopyTo(_held);
            }
            _heldCount = hold;
            if (send > 0)
            {
                await inner.WriteAsync(work.AsMemory(0, send), cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(work);
        }
    }

    /// <summary>Writes what was held back: the body has ended, so it cannot begin a credential any more.</summary>
    public Task CompleteAsync(CancellationToken cancellationToken) => ReleaseHeldAsync(cancellationToken).AsTask();

    private ValueTask ReleaseHeldAsync(CancellationToken cancellationToken)
    {
        if (_heldCount == 0)
        {
            return ValueTask.CompletedTask;
        }
        var count = _heldCount;
        _heldCount = 0;
        return inner.WriteAsync(_held.AsMemory(0, count), cancellationToken);
    }
}
