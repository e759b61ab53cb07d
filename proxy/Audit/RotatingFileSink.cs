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

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data)
    {
        var stream = _stream ??= Open();
        if (stream.Length > 0 && stream.Length + data.Length > maxBytes)
        {
            await stream.DisposeAsync();
            _stream = null;
            Rotate();
            stream = _stream = Open();
        }
        await stream.WriteAsync(data);
        await stream.FlushAsync();
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
