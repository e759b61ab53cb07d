namespace SecretlessProxy.Audit;

/// <summary>
/// An append-only file that is rotated by size: before a write would take it past <c>maxBytes</c>, <c>FILE</c>
/// becomes <c>FILE.1</c>, <c>FILE.1</c> becomes <c>FILE.2</c> and so on; the oldest beyond <c>maxFiles</c> is deleted.
/// A write is never split across two files, so every line stays whole. Used by one writer at a time.
/// </summary>
internal sealed class RotatingFileSink(string path, long maxBytes, int maxFiles) : IDisposable
{
    private FileStream? _stream;

    public string Path { get; } = path;

    /// <summary>Appends whole lines (a batch of records), rotating between lines wherever the size limit falls.</summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data)
    {
        while (data.Length > 0)
        {
            var stream = _stream ??= Open();
            var room = maxBytes - stream.Length;
            // The longest run of whole lines that fits; a single line longer than the limit goes alone.
            var take = data.Length;
            if (take > room)
            {
                var cut = data.Span[..(int)Math.Max(0, Math.Min(room, data.Length))].LastIndexOf((byte)'\n');
                take = cut >= 0 ? cut + 1 : 0;
                if (take == 0)
                {
                    if (stream.Length > 0)
                    {
                        await stream.DisposeAsync();
                        _stream = null;
                        Rotate();
                        continue;
                    }
                    var end = data.Span.IndexOf((byte)'\n');
                    take = end >= 0 ? end + 1 : data.Length;
                }
            }
            await stream.WriteAsync(data[..take]);
            await stream.FlushAsync();
            data = data[take..];
        }
    }

    private FileStream Open() => new(Path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);

    private void Rotate()
    {
        if (maxFiles <= 0)
        {
            File.Delete(Path);
            return;
        }
        File.Delete($"{Path}.{maxFiles}");
        for (var i = maxFiles - 1; i >= 1; i--)
        {
            var from = $"{Path}.{i}";
            if (File.Exists(from))
            {
                File.Move(from, $"{Path}.{i + 1}", overwrite: true);
            }
        }
        File.Move(Path, Path + ".1", overwrite: true);
    }

    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
    }
}
