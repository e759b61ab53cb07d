using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Stores;

/// <summary>
/// A secret held in one file, read at start and re-read when the file changes (checked on a timer: size,
/// modification time and the resolved target, so Kubernetes' <c>..data</c> symlink swap is seen; a change is
/// read once it has held still for one interval). Readers get the last value read and never touch the disk.
/// </summary>
internal sealed class WatchedSecretFile : IDisposable
{
    internal const long MaxBytes = 64 * 1024;

    private readonly string _path;
    private readonly bool _trim;
    private readonly ITimer _timer;
    private readonly Lock _gate = new();
    private (DateTime Modified, long Length, string? Target) _stamp;
    private (DateTime Modified, long Length, string? Target)? _pending;
    private volatile State _state;

    public WatchedSecretFile(string path, bool trim, TimeProvider timeProvider, TimeSpan pollInterval)
    {
        _path = path;
        _trim = trim;
        _state = Read();
        _timer = timeProvider.CreateTimer(_ => Poll(), null, pollInterval, pollInterval);
    }

    /// <summary>Raised after the value (or its failure) changed.</summary>
    public event Action? Changed;

    /// <summary>True when the last read found no file at the path.</summary>
    public bool Missing => _state.Missing;

    /// <summary>The current value, or null with <paramref name="error"/> saying why (never the content).</summary>
    public SecretValue? TryGet(out string? error)
    {
        var state = _state;
        error = state.Error;
        return state.Value;
    }

    internal void Poll()
    {
        lock (_gate)
        {
            var stamp = Stamp();
            if (stamp == _stamp)
            {
                _pending = null;
                return;
            }
            // Read a changed file only once it has held still for a whole poll interval, so a file
            // rewritten in place is never read half-written.
            if (_pending != stamp)
            {
                _pending = stamp;
                return;
            }
            _pending = null;
            var next = Read();
            var previous = _state;
            _state = next;
            if (previous.Error != next.Error ||
                !string.Equals(previous.Value?.Reveal(), next.Value?.Reveal(), StringComparison.Ordinal))
            {
                Changed?.Invoke();
            }
        }
    }

    private (DateTime, long, string?) Stamp()
    {
        try
        {
            var info = new FileInfo(_path);
            if (!info.Exists)
            {
                return (DateTime.MinValue, -1, null);
            }
            // The real path, with every link on the way resolved: Kubernetes swaps '..data', a link to a folder in
            // the middle of 'token -> ..data/token', which the file's own link target does not show. Two versions
            // of the same size written within one tick of the file system's clock differ only there.
            var target = RealPath(_path);
            var final = new FileInfo(target);
            return (final.LastWriteTimeUtc, final.Length, target);
        }
        catch (IOException)
        {
            return (DateTime.MinValue, -2, null);
        }
        catch (UnauthorizedAccessException)
        {
            return (DateTime.MinValue, -3, null);
        }
    }

    /// <summary>The path with each of its components' links resolved (at most 40 links, as the kernel allows).</summary>
    internal static string RealPath(string path)
    {
        var pending = new Stack<string>(Path.GetFullPath(path).Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = "/";
        var links = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            var next = Path.Combine(current, part);
            if (new FileInfo(next).LinkTarget is { } target && ++links <= 40)
            {
                // Resolve the link's own components next, then the rest of the path.
                foreach (var piece in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
                {
                    pending.Push(piece);
                }
                if (target.StartsWith('/'))
                {
                    current = "/";
                }
                continue;
            }
            current = next;
        }
        return current;
    }

    private State Read()
    {
        _stamp = Stamp();
        try
        {
            var info = new FileInfo(_path);
            if (!info.Exists)
            {
                return new State(null, $"secret file '{_path}' does not exist") { Missing = true };
            }
            if (info.Length > MaxBytes)
            {
                return new State(null, $"secret file '{_path}' is larger than {MaxBytes} bytes");
            }
            var text = File.ReadAllText(_path);
            if (_trim)
            {
                text = text.Trim();
            }
            if (text.Length == 0)
            {
                return new State(null, $"secret file '{_path}' is empty");
            }
            return new State(new SecretValue(text), null);
        }
        catch (UnauthorizedAccessException)
        {
            return new State(null, $"secret file '{_path}' is not readable (permission denied)");
        }
        catch (IOException ex)
        {
            // IOException messages name the path and the OS error, never file content.
            return new State(null, $"secret file '{_path}' could not be read ({ex.GetType().Name})");
        }
    }

    public void Dispose() => _timer.Dispose();

    private sealed record State(SecretValue? Value, string? Error)
    {
        public bool Missing { get; init; }
    }
}
