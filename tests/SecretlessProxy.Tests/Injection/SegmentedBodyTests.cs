using SecretlessProxy.Injection;

namespace SecretlessProxy.Tests.Injection;

public sealed class SegmentedBodyTests
{
    [Fact]
    public void Reserves_whole_segments_as_bytes_arrive_and_returns_them_on_dispose()
    {
        var budget = new BodyBufferBudget { Limit = 3 * SegmentedBody.SegmentSize };
        var data = Enumerable.Range(0, SegmentedBody.SegmentSize + 10).Select(i => (byte)i).ToArray();
        using (var body = new SegmentedBody(budget))
        {
            Assert.Equal(0, budget.InUse);
            Assert.True(body.TryAppend(data.AsSpan(0, 10)));
            Assert.Equal(SegmentedBody.SegmentSize, budget.InUse);
            Assert.True(body.TryAppend(data.AsSpan(10)));
            Assert.Equal(2 * SegmentedBody.SegmentSize, budget.InUse);
            var back = new byte[data.Length + 5];
            Assert.Equal(data.Length, body.Read(back, 0, back.Length));
            Assert.Equal(data, back[..data.Length]);
            Assert.Equal(0, body.Read(back, 0, back.Length));
        }
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public void Refuses_a_segment_past_the_shared_limit()
    {
        var budget = new BodyBufferBudget { Limit = 2 * SegmentedBody.SegmentSize };
        using var first = new SegmentedBody(budget);
        using var second = new SegmentedBody(budget);
        using var third = new SegmentedBody(budget);
        Assert.True(first.TryAppend(new byte[1]));
        Assert.True(second.TryAppend(new byte[SegmentedBody.SegmentSize]));
        Assert.False(third.TryAppend(new byte[1]));
        first.Dispose();
        Assert.True(third.TryAppend(new byte[1]));
        Assert.Equal(2 * SegmentedBody.SegmentSize, budget.HighWater);
    }
}
