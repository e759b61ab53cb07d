using System.Text.Json;

namespace SecretlessProxy.Grants;

/// <summary>
/// Grants in a local JSON file, replaced atomically on every change: written to a temporary file in the same
/// folder, flushed to disk, then renamed over the old file, so a crash leaves the old set or the new one.
/// </summary>
internal sealed class FileGrantStore(string path) : IGrantStore
{
    public string Location => path;

    public bool IsShared => false;

    public async Task<IReadOnlyList<Grant>> LoadAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return [];
        }
        await using var stream = File.OpenRead(path);
        var file = await JsonSerializer.DeserializeAsync(stream, GrantJson.Default.GrantFile, cancellationToken)
            ?? throw new InvalidDataException($"'{path}' holds no grants document");
        return file.Grants ?? [];
    }

    public async Task SaveAsync(IReadOnlyList<Grant> all, IReadOnlyList<Grant> added, IReadOnlyList<string> removedIds, CancellationToken cancellationToken)
    {
        var grants = all;
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        await using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await JsonSerializer.SerializeAsync(stream, new GrantFile(1, grants), GrantJson.Default.GrantFile, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
