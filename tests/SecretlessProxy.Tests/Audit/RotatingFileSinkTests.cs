using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;

namespace SecretlessProxy.Tests.Audit;

public sealed class RotatingFileSinkTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("secretless-rotate-").FullName;

    [Fact]
    public async Task Rotates_before_the_limit_keeps_n_files_and_never_splits_a_write()
    {
        var path = Path.Combine(_directory, "audit.jsonl");
        using (var sink = new RotatingFileSink(path, maxBytes: 100, maxFiles: 2))
        {
            for (var i = 0; i < 10; i++)
            {
                await sink.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"{{\"n\":{i},\"pad\":\"{new string('x', 20)}\"}}\n"));
            }
        }
        Assert.Equal(["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"], Directory.GetFiles(_directory).Select(Path.GetFileName).Order());
        Assert.All(Directory.GetFiles(_directory), f => Assert.InRange(new FileInfo(f).Length, 1, 100));
        var newest = File.ReadAllLines(path);
        Assert.Contains("\"n\":9", newest[^1], StringComparison.Ordinal);
        Assert.All(Directory.GetFiles(_directory).SelectMany(File.ReadAllLines), line => Assert.StartsWith("{\"n\":", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_batch_of_lines_is_split_between_files_at_line_boundaries()
    {
        var path = Path.Combine(_directory, "batch.jsonl");
        var batch = string.Concat(Enumerable.Range(0, 12).Select(i => $"{{\"n\":{i:D2},\"pad\":\"{new string('y', 20)}\"}}\n"));
        using (var sink = new RotatingFileSink(path, maxBytes: 100, maxFiles: 10))
        {
            await sink.WriteAsync(System.Text.Encoding.UTF8.GetBytes(batch));
        }
        var files = Directory.GetFiles(_directory, "batch.jsonl*");
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 1, 100));
        // Oldest first (highest suffix), every line whole and none lost or repeated.
        var lines = files.OrderByDescending(f => f.Length > path.Length ? int.Parse(f[(path.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture) : 0)
            .SelectMany(File.ReadAllLines).ToList();
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"{{\"n\":{i:D2},\"pad\":\"{new string('y', 20)}\"}}"), lines);
    }

    [Theory]
    [InlineData("2048", 2048L)]
    [InlineData("512KiB", 512L * 1024)]
    [InlineData("100MB", 100L * 1024 * 1024)]
    [InlineData("1 GiB", 1024L * 1024 * 1024)]
    [InlineData("1k", 1024L)]
    public void Sizes_parse(string text, long bytes)
    {
        Assert.True(DecisionLogSection.TryParseSize(text, out var parsed));
        Assert.Equal(bytes, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("MB")]
    [InlineData("10")]
    [InlineData("5 parsecs")]
    [InlineData("-1MB")]
    public void Bad_sizes_are_refused(string text) => Assert.False(DecisionLogSection.TryParseSize(text, out _));

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
