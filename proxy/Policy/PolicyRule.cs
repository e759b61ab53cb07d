using System.Collections.Frozen;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Policy;

/// <summary>A compiled policy rule. Which identities and routes it names lives in <see cref="PolicyModel"/>'s lookups.</summary>
public sealed class PolicyRule
{
    public PolicyRule(string name, int index, bool isDeny, IReadOnlyList<SpiffeIdPattern> identities, IReadOnlyList<string> routes,
        FrozenSet<string>? methods, IReadOnlyList<PathPattern>? paths, Schedule? schedule, bool requireGrant = false, FrozenSet<AttestationKind>? attestedBy = null,
        IReadOnlyList<FactCondition>? when = null, RuleConditions? conditions = null, ApproverList? approvers = null, McpRule? mcp = null)
    {
        Approvers = approvers;
        Mcp = mcp;
        Conditions = conditions;
        When = when is { Count: > 0 } ? [.. when] : null;
        AttestedBy = attestedBy;
        RequireGrant = requireGrant;
        Name = name;
        Index = index;
        IsDeny = isDeny;
        Identities = identities;
        Routes = routes;
        Methods = methods;
        Paths = paths;
        _paths = paths?.ToArray();
        Schedule = schedule;
        Decision = isDeny ? Decision.DeniedBy(this) : Decision.AllowedBy(this);
        GrantMissing = Decision.GrantRequiredBy(this);
        DeniedUnknown = Decision.DeniedUnknownBy(this);
    }

    private readonly PathPattern[]? _paths;

    public string Name { get; }

    /// <summary>Position in the config's <c>policies</c> list.</summary>
    public int Index { get; }

    public bool IsDeny { get; }

    public IReadOnlyList<SpiffeIdPattern> Identities { get; }

    public IReadOnlyList<string> Routes { get; }

    /// <summary>Null means any method.</summary>
    public FrozenSet<string>? Methods { get; }

    /// <summary>Null means any path.</summary>
    public IReadOnlyList<PathPattern>? Paths { get; }

    /// <summary>Null means always.</summary>
    public Schedule? Schedule { get; }

    /// <summary>How the caller must have been attested for the rule to apply; null means any way.</summary>
    public FrozenSet<AttestationKind>? AttestedBy { get; }

    /// <summary>Facts the caller's attestation must show (<c>when: { uid: 1001 }</c>); null means none.</summary>
    public FactCondition[]? When { get; }

    /// <summary>Context facts, listener, source address and time windows of <c>when</c>; null means none.</summary>
    public RuleConditions? Conditions { get; }

    /// <summary>The rule's <c>mcp:</c> block; null means the rule covers no MCP message (only the HTTP requests of its routes).</summary>
    public McpRule? Mcp { get; }

    /// <summary>A deny rule's decision when it applies because a fact it names is unknown (allocated once).</summary>
    public Decision DeniedUnknown { get; }

    /// <summary>The decision this rule makes when it applies (allocated once).</summary>
    public Decision Decision { get; }

    /// <summary>An allow rule that applies only while the caller holds a live grant for the route (or its credential).</summary>
    public bool RequireGrant { get; }

    /// <summary>Who may approve a grant request under this rule (<c>approvers</c>, with <c>requireGrant</c>); null when nobody may.</summary>
    public ApproverList? Approvers { get; }

    /// <summary>The denial when the rule would allow but the caller holds no live grant (allocated once).</summary>
    public Decision GrantMissing { get; }

    /// <summary>Everything that decides what the rule does, for telling whether a reload changed it.</summary>
    public string Signature =>
        $"{(IsDeny ? "deny" : "allow")}|{string.Join(',', Identities)}|{string.Join(',', Routes)}|{(Methods is null ? "*" : string.Join(',', Methods.Order(StringComparer.Ordinal)))}|{(Paths is null ? "*" : string.Join(',', Paths))}|{Schedule}|{RequireGrant}|{(AttestedBy is null ? "*" : string.Join(',', AttestedBy.Order()))}|{(When is null ? "*" : string.Join(';', When.Select(w => w.ToString())))}|{Conditions}|{Approvers}|{Mcp}";

    /// <summary>Null when the rule applies to the request, else what did not match ("method", "path", "schedule").</summary>
    public string? Mismatch(string method, string path, DateTimeOffset now, AttestationKind attestation = AttestationKind.X509Svid, IReadOnlyDictionary<string, string>? facts = null) =>
        Mismatch(method, path, now, attestation, facts, default, out _);

    /// <summary>
    /// As <see cref="Mismatch(string, string, DateTimeOffset, AttestationKind, IReadOnlyDictionary{string, string}?)"/>, with the
    /// <c>when</c> conditions over <paramref name="context"/>. <paramref name="unknown"/> is true when an allow rule did not
    /// apply only because a fact it names is unknown; a deny rule whose only doubt is an unknown fact applies (null mismatch,
    /// <paramref name="unknown"/> true).
    /// </summary>
    public string? Mismatch(string method, string path, DateTimeOffset now, AttestationKind attestation, IReadOnlyDictionary<string, string>? facts, in DecisionContext context, out bool unknown)
    {
        unknown = false;
        if (AttestedBy is not null && !AttestedBy.Contains(attestation))
        {
            return "attestation (the rule names " + string.Join(", ", AttestedBy.Select(AttestationKinds.Name)) + ")";
        }
        if (When is { } when)
        {
            for (var i = 0; i < when.Length; i++)
            {
                if (!when[i].HoldsFor(facts))
                {
                    return "attestation fact " + when[i].Fact;
                }
            }
        }
        if (Methods is null)
        {
            // TRACE reflects the request (with the injected credential) and CONNECT opens a tunnel: an allow rule
            // without methods does not cover them; only a rule that names them does.
            if (!IsDeny && IsReflectingOrTunneling(method))
            {
                return "method (TRACE and CONNECT are allowed only by a rule that names them in methods)";
            }
        }
        else if (!Methods.Contains(method))
        {
            return "method";
        }
        if (Paths is not null && !MatchesAnyPath(path))
        {
            return "path";
        }
        if (Schedule is not null && !Schedule.IsActive(now))
        {
            return "schedule";
        }
        if (context.Mcp is null && Mcp is not null && IsDeny)
        {
            // A deny rule with an mcp block refuses the MCP messages it names, not the connection that carries them.
            return "mcp (a deny rule with an mcp block decides MCP messages only)";
        }
        if (context.Mcp is { } call)
        {
            if (Mcp is null)
            {
                return "mcp message (the rule has no mcp block)";
            }
            if (Mcp.Mismatch(call, IsDeny) is { } mcpMismatch)
            {
                return mcpMismatch;
            }
        }
        if (Conditions is { } conditions)
        {
            var mismatch = conditions.Mismatch(in context, now, out unknown);
            if (unknown && IsDeny)
            {
                // Unknown never allows: a deny rule that might apply does.
                return null;
            }
            return mismatch;
        }
        return null;
    }

    private static bool IsReflectingOrTunneling(string method) =>
        method.Length == 5 ? string.Equals(method, "TRACE", StringComparison.OrdinalIgnoreCase)
        : method.Length == 7 && string.Equals(method, "CONNECT", StringComparison.OrdinalIgnoreCase);

    private bool MatchesAnyPath(string path)
    {
        // An array and an index: enumerating the interface would box an enumerator on every request.
        var paths = _paths!;
        for (var i = 0; i < paths.Length; i++)
        {
            if (paths[i].IsMatch(path))
            {
                return true;
            }
        }
        return false;
    }
}
