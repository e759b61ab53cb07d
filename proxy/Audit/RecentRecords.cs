namespace SecretlessProxy.Audit;

/// <summary>The last <c>capacity</c> records, as JSON lines: a ring the audit writer fills and the console reads.</summary>
internal sealed class RecentRecords(int capacity)
{
    private readonly string[] _ring = new string[capacity];
    private readonly Lock _gate = new();
    private long _count;

    public void Add(string json)
    {
        lock (_gate)
        {
            _ring[_count % _ring.Length] = json;
            _count++;
        }
    }

    /// <summary>The records held, oldest first.</summary>
    public IReadOnlyList<string> Snapshot()
    {
        lock (_gate)
        {
            var held = (int)Math.Min(_count, _ring.Length);
            var first = _count - held;
            var copy = new string[held];
            for (var i = 0; i < held; i++)
            {
                copy[i] = _ring[(first + i) % _ring.Length];
            }
            return copy;
        }
    }
}
