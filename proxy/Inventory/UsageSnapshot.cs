namespace SecretlessProxy.Inventory;

/// <summary>
/// Usage facts at one moment, from wherever they are kept: this replica's memory since it started (<c>memory</c>),
/// Redis for every replica and across restarts (<c>redis</c>), or nothing (<c>none</c>: the config alone).
/// </summary>
public sealed class UsageSnapshot
{
    public const string FromMemory = "memory";
    public const string FromRedis = "redis";
    public const string FromNothing = "none";

    /// <summary><c>memory</c>, <c>redis</c> or <c>none</c>.</summary>
    public required string Source { get; init; }

    /// <summary>A sentence for reports: where the usage facts came from and what that means.</summary>
    public string Note => Source switch
    {
        FromRedis => "usage from Redis: every replica, kept across restarts",
        FromMemory => "usage from this replica's memory since it started (configure cache.redis to cover every replica and restarts)",
        _ => "no usage facts: the config alone; findings that need usage (unused credentials, identities never seen, duplicated values in remote stores) need the running proxy (GET /inventory/reconcile) or Redis (cache.redis)",
    };

    /// <summary>Since when usage has been tracked (the earliest replica start that wrote it).</summary>
    public DateTimeOffset? Since { get; set; }

    public Dictionary<string, Seen> Identities { get; } = new(StringComparer.Ordinal);

    /// <summary>(identity, credential) → uses.</summary>
    public Dictionary<(string Identity, string Credential), Seen> Credentials { get; } = new();

    /// <summary>(identity, route) → calls.</summary>
    public Dictionary<(string Identity, string Route), Seen> Routes { get; } = new();

    /// <summary>(MCP route, agent identity, tool) → calls used (<see cref="Seen.Count"/>) and refused (<see cref="Seen.Denied"/>).</summary>
    public Dictionary<(string Route, string Identity, string Tool), Seen> McpTools { get; } = new();

    /// <summary>(MCP route, agent identity, tool) → the users the agent called it for, each with its last call.</summary>
    public Dictionary<(string Route, string Identity, string Tool), Dictionary<string, DateTimeOffset>> McpUsers { get; } = new();

    /// <summary>Allow rule → when it last allowed a call.</summary>
    public Dictionary<string, DateTimeOffset> RuleLastUsed { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Credential → what the proxy knows of its secret (fetch, lease, version, fingerprint).</summary>
    public Dictionary<string, SecretFacts> Secrets { get; } = new(StringComparer.OrdinalIgnoreCase);

    public bool HasUsage => Source != FromNothing;

    /// <summary>When any identity last used <paramref name="credential"/>, or null.</summary>
    public DateTimeOffset? LastUseOf(string credential) =>
        Credentials.Where(c => string.Equals(c.Key.Credential, credential, StringComparison.OrdinalIgnoreCase)).Select(c => c.Value.Last).Max();

    /// <summary>The identities that obtained <paramref name="credential"/>.</summary>
    public List<string> ConsumersOf(string credential) =>
        [.. Credentials.Where(c => string.Equals(c.Key.Credential, credential, StringComparison.OrdinalIgnoreCase)).Select(c => c.Key.Identity).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>First and last time, and counts (allowed or requests; denied).</summary>
    public sealed class Seen
    {
        public DateTimeOffset? First { get; set; }

        public DateTimeOffset? Last { get; set; }

        public long Count { get; set; }

        public long Denied { get; set; }
    }

    public sealed class SecretFacts
    {
        public DateTimeOffset? LastFetch { get; set; }

        public string? LeaseId { get; set; }

        public string? Version { get; set; }

        public DateTimeOffset? VersionCreatedAt { get; set; }

        /// <summary>Internal: compared, never shown.</summary>
        internal string? Fingerprint { get; set; }

        internal string? KeyId { get; set; }

        public string? Store { get; set; }
    }

    /// <summary>This replica's memory: the tracker and the ledger.</summary>
    public static UsageSnapshot Of(UsageTracker usage, SecretLedger? ledger)
    {
        ArgumentNullException.ThrowIfNull(usage);
        var snapshot = new UsageSnapshot { Source = FromMemory, Since = usage.Since };
        foreach (var (identity, seen) in usage.Identities)
        {
            snapshot.Identities[identity] = new Seen { First = seen.Seen.First, Last = seen.Seen.Last, Count = seen.Allowed, Denied = seen.Denied };
            foreach (var (route, counter) in seen.Routes)
            {
                snapshot.Routes[(identity, route)] = new Seen { First = counter.First, Last = counter.Last, Count = counter.Allowed, Denied = counter.Refused };
            }
            foreach (var (credential, use) in seen.Credentials)
            {
                snapshot.Credentials[(identity, credential)] = new Seen { First = use.Counter.First, Last = use.Counter.Last, Count = use.Counter.Allowed };
            }
        }
        foreach (var (rule, stamp) in usage.RuleLastUsed)
        {
            if (stamp.Value is { } last)
            {
                snapshot.RuleLastUsed[rule] = last;
            }
        }
        foreach (var ((route, identity), agent) in usage.McpAgents)
        {
            foreach (var (tool, use) in agent.Tools)
            {
                snapshot.McpTools[(route, identity, tool)] = new Seen { First = use.Counter.First, Last = use.Counter.Last, Count = use.Counter.Allowed, Denied = use.Counter.Refused };
                var users = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
                foreach (var (user, stamp) in use.Users)
                {
                    if (stamp.Value is { } last)
                    {
                        users[user] = last;
                    }
                }
                snapshot.McpUsers[(route, identity, tool)] = users;
            }
        }
        ledger?.Refresh();
        foreach (var (credential, entry) in ledger?.Entries ?? new Dictionary<string, SecretLedger.Entry>())
        {
            lock (entry)
            {
                snapshot.Secrets[credential] = new SecretFacts
                {
                    LastFetch = entry.LastFetch,
                    LeaseId = entry.LeaseId,
                    Version = entry.Version,
                    VersionCreatedAt = entry.VersionCreatedAt,
                    Fingerprint = entry.Fingerprint,
                    KeyId = entry.KeyId,
                    Store = entry.Store,
                };
            }
        }
        return snapshot;
    }
}
