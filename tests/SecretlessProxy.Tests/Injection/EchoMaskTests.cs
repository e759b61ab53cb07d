using System.Text;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Audit;
using SecretlessProxy.Injection;
using SecretlessProxy.Pipeline;

namespace SecretlessProxy.Tests.Injection;

public sealed class EchoMaskTests
{
    private const string Secret = "canary-k3y-9f2d1c";

    private static EchoMask Mask() => EchoMask.For(EchoFormSet.Of([Secret, Uri.EscapeDataString(Secret + "&"), "short"]))!;

    [Fact]
    public void Short_values_are_not_forms_and_longer_forms_come_first()
    {
        var forms = EchoFormSet.Of(["abc", "abcdefgh", "abcdefghij", "abcdefgh"]);
        Assert.Equal(["abcdefghij", "abcdefgh"], forms);
    }

    [Fact]
    public void Masks_the_value_in_link_headers_only_and_counts_it()
    {
        IHeaderDictionary headers = new HeaderDictionary
        {
            ["Location"] = $"/dir/?x=1&api_key={Secret}",
            ["Link"] = new Microsoft.Extensions.Primitives.StringValues([$"</a?k={Secret}>; rel=next", "</b>; rel=prev"]),
            ["X-Other"] = Secret,
        };
        Assert.Equal(2, Mask().MaskLinkHeaders(headers));
        Assert.Equal("/dir/?x=1&api_key=" + new string('*', Secret.Length), headers.Location.ToString());
        Assert.DoesNotContain(Secret, headers.Link.ToString(), StringComparison.Ordinal);
        Assert.Equal("</b>; rel=prev", headers.Link[1]);
        Assert.Equal(Secret, headers["X-Other"].ToString());
    }

    private static async Task<(string Body, DecisionRecord Record)> ThroughAsync(IEnumerable<string> writes, long scanLimit = 1 << 20, string? contentEncoding = null, bool flushEach = false)
    {
        var context = new DefaultHttpContext();
        if (contentEncoding is not null)
        {
            context.Response.Headers.ContentEncoding = contentEncoding;
        }
        var sink = new MemoryStream();
        var record = new DecisionRecord();
        var body = new MaskingResponseBody(sink, context.Response, Mask(), scanLimit, record);
        foreach (var write in writes)
        {
            await body.WriteAsync(Encoding.UTF8.GetBytes(write));
            if (flushEach)
            {
                await body.FlushAsync();
            }
        }
        await body.CompleteAsync(CancellationToken.None);
        return (Encoding.UTF8.GetString(sink.ToArray()), record);
    }

    [Fact]
    public async Task Masks_a_value_split_across_writes_and_keeps_the_length()
    {
        var text = $"{{\"authorization\":\"Bearer {Secret}\",\"again\":\"{Secret}\"}}";
        var writes = text.Chunk(3).Select(c => new string(c)).ToList();
        var (body, record) = await ThroughAsync(writes, flushEach: true);
        Assert.DoesNotContain(Secret, body, StringComparison.Ordinal);
        Assert.Equal(text.Length, body.Length);
        Assert.Equal(text.Replace(Secret, new string('*', Secret.Length), StringComparison.Ordinal), body);
        Assert.Equal(2, record.RedactedInBody);
    }

    [Fact]
    public async Task A_prefix_that_never_completes_is_written_at_the_end()
    {
        var (body, record) = await ThroughAsync(["ends with canary-k3y"]);
        Assert.Equal("ends with canary-k3y", body);
        Assert.Equal(0, record.RedactedInBody);
    }

    [Fact]
    public async Task Bytes_past_the_scan_limit_stream_through_unscanned()
    {
        var (body, record) = await ThroughAsync([Secret, new string('x', 100), Secret], scanLimit: 50);
        Assert.StartsWith(new string('*', Secret.Length), body, StringComparison.Ordinal);
        Assert.EndsWith(Secret, body, StringComparison.Ordinal);
        Assert.Equal(1, record.RedactedInBody);
    }

    [Fact]
    public async Task A_compressed_body_is_not_touched()
    {
        var (body, record) = await ThroughAsync([Secret], contentEncoding: "gzip");
        Assert.Equal(Secret, body);
        Assert.Equal(0, record.RedactedInBody);
    }
}
