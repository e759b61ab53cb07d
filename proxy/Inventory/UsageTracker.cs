using System.Collections.Concurrent;
using SecretlessProxy.Audit;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Inventory;

/// <summary>
/// Live usage for the inventory, fed by every completed request: per identity its routes and credentials with
/// first and last use, allow and deny counts, and when each allow rule last allowed a call. Lock-free: dictionary
/// lookups keyed by the config's and the connection's own strings, and interlocked writes. Bounded: at most
/// <see cref="MaxIdentities"/> identities are tracked (the rest are counted in <see cref="Untracked"/>).
/// Kept in memory since the process started (<see cref="Since"/>).
/// </summary>
public sealed class UsageTracker(TimeProvider time)
{
    public const int MaxIdentities = 10_000;

    /// <summary>How many distinct local executables (path, hash) are kept per identity and credential.</summary>
    public const int MaxExecutablesPerCredential = 32;

    private readonly ConcurrentDictionary<string, IdentityUsage> _identities = new(StringComparer.Ordinal);
    /// <summary>How many tools are kept per MCP route and agent (further names are counted in <see cref="McpAgentUsage.Untracked"/>).</summary>
    public const int MaxToolsPerAgent = 256;

    /// <summary>How many users are kept per MCP route, agent and tool.</summary>
    public const int MaxUsersPerTool = 64;

    /// <summary>The longest tool name kept as it is (longer ones are cut, with <c>...</c>).</summary>
    public const int MaxToolNameLength = 128;

    private readonly ConcurrentDictionary<string, Timestamp> _ruleLastUsed = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Route, string Identity), McpAgentUsage> _mcp = new();
    private long _untracked;

    public DateTimeOffset Since { get; } = time.GetUtcNow();

    public long Untracked => Interlocked.Read(ref _untracked);

    public IReadOnlyDictionary<string, IdentityUsage> Identities => _identities;

    /// <summary>(MCP route, agent identity) → the tools it called (<c>tools/call</c>), with counts, times and users.</summary>
    public IReadOnlyDictionary<(string Route, string Identity), McpAgentUsage> McpAgents => _mcp;

    /// <summary>When each allow rule last allowed a call (UTC ticks).</summary>
    public IReadOnlyDictionary<string, Timestamp> RuleLastUsed => _ruleLastUsed;

    public void Record(DecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (record.Identity is not { } identity)
        {
            return;
        }
        var ticks = record.Time.UtcTicks;
        if (!_identities.TryGetValue(identity, out var usage))
        {
            if (_identities.Count >= MaxIdentities)
            {
                Interlocked.Increment(ref _untracked);
                return;
            }
            usage = _identities.GetOrAdd(identity, static _ => new IdentityUsage());
        }
        var allowed = record.PolicyOutcome == DecisionRecord.Allow;
        usage.Touch(ticks, allowed, record.Reason);
        if (record.Attestation is { } attestation && !usage.Attestations.ContainsKey(attestation))
        {
            usage.Attestations.TryAdd(attestation, 0);
        }
        if (record.Route is { } route)
        {
            usage.Routes.GetOrAdd(route, static _ => new UseCounter()).Touch(ticks, allowed);
        }
        if (record.Mcp is { Method: "tools/call", Name: { } tool } mcp && record.Route is { } mcpRoute)
        {
            // Used: allowed by policy and not refused after (a per-user secret the user lacks); refused otherwise.
            RecordTool(mcpRoute, identity, tool, mcp.User, ticks, allowed && record.Outcome != DecisionRecord.Deny);
        }
        if (allowed && record.Rule is { } rule)
        {
            _ruleLastUsed.GetOrAdd(rule, static _ => new Timestamp()).Set(ticks);
        }
        if (record.CredentialSource != CredentialSource.None && record.Credential is { } credential)
        {
            var use = usage.Credentials.GetOrAdd(credential, static _ => new CredentialUse());
            use.Counter.Touch(ticks, allowed: true);
            use.Provider = record.CredentialProvider;
            use.Static = record.CredentialStatic == true;
            use.LastSource = record.CredentialSource;
            if (record.Peer is { ExecutablePath: { } path } peer && use.Executables.Count < MaxExecutablesPerCredential)
            {
                use.Executables.TryAdd((path, peer.Sha256), 0);
            }
        }
    }

    private void RecordTool(string route, string identity, string tool, string? user, long ticks, bool used)
    {
        var agent = _mcp.GetOrAdd((route, identity), static _ => new McpAgentUsage());
        if (tool.Length > MaxToolNameLength)
        {
            tool = string.Concat(tool.AsSpan(0, MaxToolNameLength), "...");
        }
        if (!agent.Tools.TryGetValue(tool, out var use))
        {
            if (agent.Tools.Count >= MaxToolsPerAgent)
            {
                agent.CountUntracked();
                return;
            }
            use = agent.Tools.GetOrAdd(tool, static _ => new McpToolUse());
        }
        use.Counter.Touch(ticks, used);
        if (user is null)
        {
            return;
        }
        if (!use.Users.TryGetValue(user, out var stamp))
        {
            if (use.Users.Count >= MaxUsersPerTool)
            {
                return;
            }
            stamp = use.Users.GetOrAdd(user, static _ => new Timestamp());
        }
        stamp.Set(ticks);
    }

    /// <summary>One agent's tools on one MCP route.</summary>
    public sealed class McpAgentUsage
    {
        private long _untracked;

        public ConcurrentDictionary<string, McpToolUse> Tools { get; } = new(StringComparer.Ordinal);

        /// <summary>Calls of tools beyond <see cref="MaxToolsPerAgent"/> names, counted but not named.</summary>
        public long Untracked => Interlocked.Read(ref _untracked);

        internal void CountUntracked() => Interlocked.Increment(ref _untracked);
    }

    /// <summary>One tool: calls used and refused, first and last, and the users the agent acted for (each with its last call).</summary>
    public sealed class McpToolUse
    {
        public UseCounter Counter { get; } = new();

        public ConcurrentDictionary<string, Timestamp> Users { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>An instant updated with interlocked operations (UTC ticks; null until set).</summary>
    public sealed class Timestamp
    {
        private long _ticks;

        public DateTimeOffset? Value => Interlocked.Read(ref _ticks) is var ticks && ticks != 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

        internal void Set(long ticks) => Interlocked.Exchange(ref _ticks, ticks);
    }

    public sealed class IdentityUsage
    {
        private long _allowed;
        private long _denied;

        public UseCounter Seen { get; } = new();

        public long Allowed => Interlocked.Read(ref _allowed);

        public long Denied => Interlocked.Read(ref _denied);

        /// <summary>The reason of the last refusal (a code), if any.</summary>
        public string? LastDeniedReason { get; private set; }

        public ConcurrentDictionary<string, UseCounter> Routes { get; } = new(StringComparer.OrdinalIgnoreCase);

        /// <summary>How this identity's callers were attested (<c>x509-svid</c>, <c>unix-peer</c>, <c>loopback</c>).</summary>
        public ConcurrentDictionary<string, byte> Attestations { get; } = new(StringComparer.Ordinal);

        public ConcurrentDictionary<string, CredentialUse> Credentials { get; } = new(StringComparer.OrdinalIgnoreCase);

        internal void Touch(long ticks, bool allowed, string? reason)
        {
            Seen.Touch(ticks, allowed);
            if (allowed)
            {
                Interlocked.Increment(ref _allowed);
            }
            else
            {
                Interlocked.Increment(ref _denied);
                LastDeniedReason = reason;
            }
        }
    }

    public sealed class UseCounter
    {
        private long _first;
        private long _last;
        private long _allowed;
        private long _refused;

        public DateTimeOffset? First => Read(ref _first);

        public DateTimeOffset? Last => Read(ref _last);

        public long Allowed => Interlocked.Read(ref _allowed);

        public long Refused => Interlocked.Read(ref _refused);

        internal void Touch(long ticks, bool allowed)
        {
            Interlocked.CompareExchange(ref _first, ticks, 0);
            if (ticks > Interlocked.Read(ref _last))
            {
                Interlocked.Exchange(ref _last, ticks);
            }
            Interlocked.Increment(ref allowed ? ref _allowed : ref _refused);
        }

        private static DateTimeOffset? Read(ref long field)
        {
            var ticks = Interlocked.Read(ref field);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    public sealed class CredentialUse
    {
        public UseCounter Counter { get; } = new();

        public string? Provider { get; set; }

        public bool Static { get; set; }

        public CredentialSource LastSource { get; set; }

        /// <summary>The local executables (path, SHA-256) that used the credential through a Unix socket listener.</summary>
        public ConcurrentDictionary<(string Path, string? Sha256), byte> Executables { get; } = new();
    }
}
