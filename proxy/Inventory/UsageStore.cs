using System.Globalization;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Configuration;
using SecretlessProxy.Redis;
using StackExchange.Redis;

namespace SecretlessProxy.Inventory;

/// <summary>
/// Keeps usage in Redis when <c>cache.redis</c> is configured, so the reconcile report's stale-path findings cover every
/// replica and survive restarts. Every <c>inventory.usageFlushInterval</c> (and when the proxy stops, and before a report)
/// this replica sends what changed since its last write to one hash, <c>PREFIX + usage</c>, in one Lua script: counts as
/// increments, first uses as minimums, last uses as maximums (Unix milliseconds), the secret facts as values; MCP tool
/// use per route, agent and tool (<c>m|…</c>) and the users each was called for (<c>mu|…</c>, last call). Names,
/// times, counts, lease ids, versions and keyed fingerprints only: never a secret. Best effort: with Redis down, usage
/// stays in memory and is sent later.
/// </summary>
public sealed partial class UsageStore(UsageTracker usage, SecretLedger ledger, RedisConnection redis, TimeProvider time, ILogger<UsageStore> logger) : IDisposable
{
    public const string HashName = "usage";

    private const string Script = """
        local h = KEYS[1]
        for i = 1, #ARGV, 3 do
          local op, f, v = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          if op == 'i' then
            redis.call('HINCRBY', h, f, v)
          elseif op == 's' then
            redis.call('HSET', h, f, v)
          else
            local cur = redis.call('HGET', h, f)
            if (not cur) or (op == 'n' and tonumber(v) < tonumber(cur)) or (op == 'x' and tonumber(v) > tonumber(cur)) then
              redis.call('HSET', h, f, v)
            end
          end
        end
        return 1
        """;

    private readonly Dictionary<string, long> _sent = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _ledgerSent = new(StringComparer.OrdinalIgnoreCase);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ITimer? _timer;
    private TimeSpan _interval;
    private volatile bool _disposed;

    /// <summary>Applies the <c>inventory</c> settings: (re)starts the periodic write.</summary>
    public void Configure(InventorySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (_timer is not null && settings.UsageFlushInterval == _interval)
        {
            return;
        }
        _interval = settings.UsageFlushInterval;
        _timer?.Dispose();
        _timer = time.CreateTimer(_ => _ = FlushAsync(), null, _interval, _interval);
    }

    /// <summary>Sends what changed to Redis; false when Redis is not configured or not reachable.</summary>
    public async Task<bool> FlushAsync()
    {
        var (db, settings) = redis.Database();
        if (db is null || settings is null || _disposed)
        {
            return false;
        }
        try
        {
            await _gate.WaitAsync();
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
        try
        {
            var ops = new List<RedisValue>();
            var pending = new Dictionary<string, long>(StringComparer.Ordinal);
            void Inc(string field, long total)
            {
                var before = _sent.GetValueOrDefault(field);
                if (total > before)
                {
                    ops.Add("i");
                    ops.Add(field);
                    ops.Add(total - before);
                    pending[field] = total;
                }
            }
            void Time(string op, string field, DateTimeOffset? at)
            {
                if (at is not { } instant)
                {
                    return;
                }
                var ms = instant.ToUnixTimeMilliseconds();
                if (_sent.TryGetValue(field, out var before) && before == ms)
                {
                    return;
                }
                ops.Add(op);
                ops.Add(field);
                ops.Add(ms);
                pending[field] = ms;
            }
            void Set(string field, string? value)
            {
                ops.Add("s");
                ops.Add(field);
                ops.Add(value ?? "");
            }

            Time("n", "since", usage.Since);
            foreach (var (identity, seen) in usage.Identities)
            {
                var id = "i|" + identity + "|";
                Time("n", id + "f", seen.Seen.First);
                Time("x", id + "l", seen.Seen.Last);
                Inc(id + "a", seen.Allowed);
                Inc(id + "d", seen.Denied);
                foreach (var (route, counter) in seen.Routes)
                {
                    var key = "r|" + identity + "|" + route + "|";
                    Time("n", key + "f", counter.First);
                    Time("x", key + "l", counter.Last);
                    Inc(key + "a", counter.Allowed);
                    Inc(key + "d", counter.Refused);
                }
                foreach (var (credential, use) in seen.Credentials)
                {
                    var key = "c|" + identity + "|" + credential + "|";
                    Time("n", key + "f", use.Counter.First);
                    Time("x", key + "l", use.Counter.Last);
                    Inc(key + "n", use.Counter.Allowed);
                }
            }
            foreach (var (rule, stamp) in usage.RuleLastUsed)
            {
                Time("x", "u|" + rule, stamp.Value);
            }
            foreach (var ((route, identity), agent) in usage.McpAgents)
            {
                foreach (var (tool, use) in agent.Tools)
                {
                    var key = "m|" + Escape(route) + "|" + Escape(identity) + "|" + Escape(tool) + "|";
                    Time("n", key + "f", use.Counter.First);
                    Time("x", key + "l", use.Counter.Last);
                    Inc(key + "a", use.Counter.Allowed);
                    Inc(key + "d", use.Counter.Refused);
                    foreach (var (user, stamp) in use.Users)
                    {
                        Time("x", "mu|" + Escape(route) + "|" + Escape(identity) + "|" + Escape(tool) + "|" + Escape(user), stamp.Value);
                    }
                }
            }
            ledger.Refresh();
            var ledgerPending = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
            foreach (var (credential, entry) in ledger.Entries)
            {
                lock (entry)
                {
                    if (entry.Changes == _ledgerSent.GetValueOrDefault(credential))
                    {
                        continue;
                    }
                    var key = "s|" + credential + "|";
                    Time("x", key + "fetch", entry.LastFetch);
                    Set(key + "lease", entry.LeaseId);
                    Set(key + "ver", entry.Version);
                    Set(key + "vat", entry.VersionCreatedAt?.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));
                    Set(key + "fp", entry.Fingerprint);
                    Set(key + "fpk", entry.KeyId);
                    Set(key + "store", entry.Store);
                    ledgerPending[credential] = entry.Changes;
                }
            }
            if (ops.Count == 0)
            {
                return true;
            }
            await db.ScriptEvaluateAsync(Script, [settings.KeyPrefix + HashName], [.. ops]);
            foreach (var (field, value) in pending)
            {
                _sent[field] = value;
            }
            foreach (var (credential, changes) in ledgerPending)
            {
                _ledgerSent[credential] = changes;
            }
            return true;
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("usage write", ex);
            Log.FlushFailed(logger, ex.GetType().Name);
            return false;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Every replica's usage from Redis (after sending this replica's), or null when Redis is not configured or not reachable.</summary>
    public async Task<UsageSnapshot?> ReadAsync()
    {
        if (!redis.IsConfigured || !await FlushAsync())
        {
            return null;
        }
        var (db, settings) = redis.Database();
        if (db is null || settings is null)
        {
            return null;
        }
        try
        {
            return Parse(await db.HashGetAllAsync(settings.KeyPrefix + HashName));
        }
        catch (Exception ex) when (RedisConnection.IsRedisFailure(ex))
        {
            redis.Failed("usage read", ex);
            return null;
        }
    }

    /// <summary>The snapshot a usage hash holds.</summary>
    public static UsageSnapshot Parse(HashEntry[] entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        DateTimeOffset? since = null;
        var result = new UsageSnapshot { Source = UsageSnapshot.FromRedis };
        foreach (var entry in entries)
        {
            var field = entry.Name.ToString();
            var value = entry.Value.ToString();
            if (field == "since")
            {
                since = Ms(value);
                continue;
            }
            var parts = field.Split('|');
            if (parts.Length < 2)
            {
                continue;
            }
            var kind = parts[^1];
            switch (parts[0])
            {
                case "i" when parts.Length == 3:
                    Apply(result.Identities.TryGetValue(parts[1], out var seen) ? seen : result.Identities[parts[1]] = new UsageSnapshot.Seen(), kind, value, "a");
                    break;
                case "r" when parts.Length >= 4:
                    var route = (parts[1], string.Join('|', parts[2..^1]));
                    Apply(result.Routes.TryGetValue(route, out var r) ? r : result.Routes[route] = new UsageSnapshot.Seen(), kind, value, "a");
                    break;
                case "c" when parts.Length >= 4:
                    var pair = (parts[1], string.Join('|', parts[2..^1]));
                    Apply(result.Credentials.TryGetValue(pair, out var c) ? c : result.Credentials[pair] = new UsageSnapshot.Seen(), kind, value, "n");
                    break;
                case "m" when parts.Length == 5:
                    var tool = (Unescape(parts[1]), Unescape(parts[2]), Unescape(parts[3]));
                    Apply(result.McpTools.TryGetValue(tool, out var m) ? m : result.McpTools[tool] = new UsageSnapshot.Seen(), kind, value, "a");
                    break;
                case "mu" when parts.Length == 5:
                    if (Ms(value) is { } called)
                    {
                        var of = (Unescape(parts[1]), Unescape(parts[2]), Unescape(parts[3]));
                        (result.McpUsers.TryGetValue(of, out var users) ? users : result.McpUsers[of] = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal))[Unescape(parts[4])] = called;
                    }
                    break;
                case "u":
                    if (Ms(value) is { } last)
                    {
                        result.RuleLastUsed[string.Join('|', parts[1..])] = last;
                    }
                    break;
                case "s" when parts.Length >= 3:
                    var name = string.Join('|', parts[1..^1]);
                    if (!result.Secrets.TryGetValue(name, out var facts))
                    {
                        result.Secrets[name] = facts = new UsageSnapshot.SecretFacts();
                    }
                    var text = value.Length == 0 ? null : value;
                    switch (kind)
                    {
                        case "fetch": facts.LastFetch = Ms(value); break;
                        case "lease": facts.LeaseId = text; break;
                        case "ver": facts.Version = text; break;
                        case "vat": facts.VersionCreatedAt = Ms(value); break;
                        case "fp": facts.Fingerprint = text; break;
                        case "fpk": facts.KeyId = text; break;
                        case "store": facts.Store = text; break;
                    }
                    break;
            }
        }
        result.Since = since;
        return result;
    }

    private static void Apply(UsageSnapshot.Seen seen, string kind, string value, string countKind)
    {
        if (kind == "f")
        {
            seen.First = Ms(value);
        }
        else if (kind == "l")
        {
            seen.Last = Ms(value);
        }
        else if (kind == countKind)
        {
            seen.Count = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        }
        else if (kind == "d")
        {
            seen.Denied = long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
        }
    }

    /// <summary>A name inside an MCP field, where tools and users may hold the separator: <c>%</c> and <c>|</c> percent-encoded.</summary>
    internal static string Escape(string name) => name.Replace("%", "%25", StringComparison.Ordinal).Replace("|", "%7C", StringComparison.Ordinal);

    internal static string Unescape(string name) => name.Replace("%7C", "|", StringComparison.Ordinal).Replace("%25", "%", StringComparison.Ordinal);

    private static DateTimeOffset? Ms(string value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) && ms > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    public void Dispose()
    {
        _disposed = true;
        _timer?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 8103, Level = LogLevel.Warning, Message = "Inventory: usage could not be written to Redis ({ExceptionType}); it is kept in memory and sent later")]
        public static partial void FlushFailed(ILogger logger, string exceptionType);
    }
}
