using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using SecretlessProxy.Databases;

namespace SecretlessProxy.MySql;

/// <summary>
/// The MySQL gateway's connection ids: each client session gets an id of the proxy's own in its greeting (what
/// <c>mysql_thread_id()</c> and drivers' cancel use), mapped once logged in to its upstream server and thread id and
/// its caller. <c>KILL [QUERY] id</c> from another session is translated to that upstream thread, and only when the
/// killer is the same workload as the target, as the PostgreSQL gateway maps cancel keys. Entries live as long as their session.
/// </summary>
internal sealed class MySqlSessions
{
    private readonly ConcurrentDictionary<uint, MySqlSession> _sessions = new();

    public MySqlSession Register()
    {
        while (true)
        {
            // Positive as a signed 32-bit number (some drivers read it so), never 0.
            var id = (uint)RandomNumberGenerator.GetInt32(1, int.MaxValue);
            var session = new MySqlSession(id);
            if (_sessions.TryAdd(id, session))
            {
                return session;
            }
        }
    }

    public void Remove(MySqlSession session) => _sessions.TryRemove(session.Id, out _);

    public int Count => _sessions.Count;

    /// <summary>The logged-in session with that proxy id, or null.</summary>
    public MySqlSession? Find(uint id) => _sessions.TryGetValue(id, out var session) && session.Upstream is not null ? session : null;
}

/// <summary>One client session: its proxy id, and once logged in its caller and upstream thread.</summary>
internal sealed class MySqlSession(uint id)
{
    public uint Id { get; } = id;

    public string? Identity { get; private set; }

    public DatabaseSettings? Database { get; private set; }

    public uint? Upstream { get; private set; }

    public void LoggedIn(string identity, DatabaseSettings database, uint upstreamThread)
    {
        Identity = identity;
        Database = database;
        Upstream = upstreamThread;
    }
}

/// <summary>A <c>KILL</c> statement that names a connection id: the translation is the same statement with the upstream thread id.</summary>
internal sealed partial record KillStatement(string? Modifier, string? Kind, uint Id)
{
    /// <summary>
    /// <c>KILL [HARD|SOFT] [CONNECTION|QUERY] id</c> (a trailing <c>;</c> and spaces allowed), or null for anything else
    /// (<c>KILL QUERY ID</c> names a query id, <c>KILL USER</c> a user: those pass as they are).
    /// </summary>
    public static KillStatement? Parse(string sql)
    {
        var match = Pattern().Match(sql);
        if (!match.Success || !uint.TryParse(match.Groups["id"].ValueSpan, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
        {
            return null;
        }
        return new KillStatement(match.Groups["mod"].Success ? match.Groups["mod"].Value.ToUpperInvariant() : null,
            match.Groups["kind"].Success ? match.Groups["kind"].Value.ToUpperInvariant() : null, id);
    }

    public string WithId(uint upstream) =>
        string.Join(' ', new[] { "KILL", Modifier, Kind, upstream.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Where(p => p is not null));

    [GeneratedRegex(@"^\s*KILL\s+(?:(?<mod>HARD|SOFT)\s+)?(?:(?<kind>CONNECTION|QUERY)\s+)?(?<id>[0-9]{1,10})\s*;?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>
/// What the gateway knows of each MySQL upstream server from its greeting: capabilities, version, collation. The
/// gateway's own greeting offers only what every upstream of the config offers (and what it can relay), and names
/// their version when they share one; an upstream not seen yet is asked once (its greeting read, no login).
/// </summary>
internal sealed class MySqlUpstreamProbe(TimeProvider time)
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, (ServerGreeting? Greeting, DateTimeOffset At)> _known = new(StringComparer.Ordinal);

    public void Learned(DatabaseSettings db, ServerGreeting greeting) => _known[Key(db)] = (greeting, time.GetUtcNow());

    /// <summary>
    /// The greetings of <paramref name="databases"/>. An upstream never seen is asked first (bounded by its connect
    /// timeout); one whose last attempt failed is asked again in the background after a while, so a down upstream
    /// does not delay the greetings of clients of the others.
    /// </summary>
    public async Task<List<ServerGreeting>> GreetingsAsync(IEnumerable<DatabaseSettings> databases, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var all = databases.GroupBy(Key).Select(g => g.First()).ToList();
        var unseen = new List<Task>();
        foreach (var db in all)
        {
            if (!_known.TryGetValue(Key(db), out var known))
            {
                unseen.Add(ProbeAsync(db, cancellationToken));
            }
            else if (known.Greeting is null && now - known.At > RetryAfter)
            {
                _known[Key(db)] = (null, now);
                _ = Task.Run(() => ProbeAsync(db, CancellationToken.None), CancellationToken.None);
            }
        }
        await Task.WhenAll(unseen);
        return [.. all.Select(db => _known.TryGetValue(Key(db), out var known) ? known.Greeting : null).OfType<ServerGreeting>()];
    }

    private async Task ProbeAsync(DatabaseSettings db, CancellationToken cancellationToken)
    {
        try
        {
            Learned(db, await MySqlUpstreamLogin.ProbeAsync(db, cancellationToken));
        }
        catch (Exception)
        {
            // Unreachable, or not MySQL: the greeting offers what the others offer; the login itself will say why.
            _known.TryAdd(Key(db), (null, time.GetUtcNow()));
        }
    }

    private static string Key(DatabaseSettings db) => db.Host + ":" + db.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
