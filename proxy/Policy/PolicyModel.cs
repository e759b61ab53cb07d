using System.Collections.Frozen;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Policy;

/// <summary>
/// Policy compiled for lookup: route → (exact SPIFFE ID → rules, ID prefix → rules). A decision looks up the
/// caller's exact ID and each of its path prefixes (one lookup per '/' in the ID), so its cost depends on the
/// ID's depth and the rules that name this caller, never on how many rules exist. Deny by default; a matching
/// deny rule beats any allow rule. Pure: no I/O, time is passed in.
/// </summary>
public sealed class PolicyModel
{
    private readonly FrozenDictionary<string, RouteRules> _routes;

    public PolicyModel(IReadOnlyList<PolicyRule> rules)
    {
        Rules = rules;
        var builders = new Dictionary<string, (Dictionary<string, List<PolicyRule>> Exact, Dictionary<string, List<PolicyRule>> Prefix)>(StringComparer.OrdinalIgnoreCase);
        foreach (var rule in rules)
        {
            foreach (var route in rule.Routes)
            {
                if (!builders.TryGetValue(route, out var maps))
                {
                    maps = (new(StringComparer.Ordinal), new(StringComparer.Ordinal));
                    builders[route] = maps;
                }
                foreach (var pattern in rule.Identities)
                {
                    var map = pattern.IsPrefix ? maps.Prefix : maps.Exact;
                    if (!map.TryGetValue(pattern.Key, out var list))
                    {
                        list = [];
                        map[pattern.Key] = list;
                    }
                    if (!list.Contains(rule))
                    {
                        list.Add(rule);
                    }
                }
            }
        }
        _routes = builders.ToFrozenDictionary(
            pair => pair.Key,
            pair => new RouteRules(Freeze(pair.Value.Exact), Freeze(pair.Value.Prefix)),
            StringComparer.OrdinalIgnoreCase);
        _methodRestricted = rules.Where(r => !r.IsDeny && r.Methods is not null).SelectMany(r => r.Routes)
            .Where(route => rules.Where(r => !r.IsDeny && r.Routes.Contains(route, StringComparer.OrdinalIgnoreCase)).All(r => r.Methods is not null))
            .ToFrozenSet(StringComparer.OrdinalIgnoreCase);
    }

    private readonly FrozenSet<string> _methodRestricted;

    /// <summary>
    /// True when every allow rule naming the route restricts methods: there, a <c>_method</c> override in the query
    /// could turn an allowed GET or POST into a method the policy never allowed, so it is refused.
    /// </summary>
    public bool RestrictsMethods(string routeId) => _methodRestricted.Contains(routeId);

    public IReadOnlyList<PolicyRule> Rules { get; }

    /// <summary>Decides for a caller as its attestor named it (SPIFFE ID and how it was attested).</summary>
    public Decision Decide(WorkloadIdentity caller, string routeId, string method, string path, DateTimeOffset now, GrantSet? grants = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return Decide(caller.SpiffeId, routeId, method, path, now, grants, caller.Kind, caller.Facts);
    }

    /// <summary>Decides with the listener, source address and context facts the rules' <c>when</c> may name.</summary>
    public Decision Decide(WorkloadIdentity caller, string routeId, string method, string path, DateTimeOffset now, GrantSet? grants, in DecisionContext context)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return Decide(caller.SpiffeId, routeId, method, path, now, grants, caller.Kind, caller.Facts, context);
    }

    /// <summary>True when some rule's <c>when</c> names context facts (so a decision needs the posture source).</summary>
    public bool UsesContextFacts => _usesContextFacts ??= Rules.Any(r => r.Conditions?.UsesContextFacts == true);

    private bool? _usesContextFacts;

    /// <summary>True when some rule lists <c>approvers</c>: then workloads may ask for grants on their own listeners.</summary>
    public bool TakesGrantRequests => _takesGrantRequests ??= Rules.Any(r => r.Approvers is not null);

    private bool? _takesGrantRequests;

    /// <param name="grants">The live grants (rules with <c>requireGrant</c> allow only with one); null means none.</param>
    /// <param name="attestation">How the caller was attested (rules with <c>attestedBy</c> apply only to those kinds).</param>
    /// <param name="facts">What the attestor saw (rules with <c>when</c> facts apply only when they hold).</param>
    public Decision Decide(SpiffeId caller, string routeId, string method, string path, DateTimeOffset now, GrantSet? grants = null, AttestationKind attestation = AttestationKind.X509Svid,
        IReadOnlyDictionary<string, string>? facts = null, DecisionContext context = default) =>
        Decide(caller, routeId, method, path, now, grants, attestation, facts, context, trace: null);

    /// <summary>
    /// The same decision as <see cref="Decide(SpiffeId, string, string, string, DateTimeOffset, GrantSet?, AttestationKind, IReadOnlyDictionary{string, string}?, DecisionContext)"/>,
    /// by the same code, recording in <paramref name="trace"/> every rule weighed and why it applied or not (for
    /// <c>explain</c> and <c>test</c>; the proxy itself never traces).
    /// </summary>
    public Decision Explain(SpiffeId caller, string routeId, string method, string path, DateTimeOffset now, GrantSet? grants, AttestationKind attestation,
        IReadOnlyDictionary<string, string>? facts, DecisionContext context, PolicyTrace trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        return Decide(caller, routeId, method, path, now, grants, attestation, facts, context, trace);
    }

    private Decision Decide(SpiffeId caller, string routeId, string method, string path, DateTimeOffset now, GrantSet? grants, AttestationKind attestation,
        IReadOnlyDictionary<string, string>? facts, DecisionContext context, PolicyTrace? trace)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (!_routes.TryGetValue(routeId, out var route))
        {
            if (trace is not null)
            {
                trace.RouteUnknown = true;
            }
            return Decision.NoRuleMatched($"no rule names route '{routeId}'");
        }

        // Explicit deny beats allow: look for an applying deny rule first.
        var request = new RequestFacts(caller, routeId, method, path, now, grants, attestation, facts, context);
        var found = route.Find(in request, deny: true, trace, out _, out _, out _);
        if (found is not null)
        {
            return found;
        }
        found = route.Find(in request, deny: false, trace, out var nearMiss, out var grantMissing, out var unknownMiss);
        if (found is not null)
        {
            return found;
        }
        if (grantMissing is not null)
        {
            return grantMissing.GrantMissing;
        }
        if (unknownMiss is { } unknown)
        {
            return Decision.FactsUnknown(unknown.Rule, unknown.What);
        }
        if (nearMiss is { } near && near.What.StartsWith("mcp argument ", StringComparison.Ordinal))
        {
            return Decision.McpArgumentRefused(near.Rule, near.What);
        }
        return Decision.NoRuleMatched(nearMiss is null
            ? $"no rule allows '{caller.Value}' on route '{routeId}'"
            : $"rule '{nearMiss.Value.Rule.Name}' names this caller and route but not this {nearMiss.Value.What}");
    }

    private static FrozenDictionary<string, PolicyRule[]> Freeze(Dictionary<string, List<PolicyRule>> map) =>
        map.ToFrozenDictionary(pair => pair.Key, pair => pair.Value.OrderBy(rule => rule.Index).ToArray(), StringComparer.Ordinal);

    private sealed class RouteRules
    {
        private readonly FrozenDictionary<string, PolicyRule[]> _exact;
        private readonly FrozenDictionary<string, PolicyRule[]>.AlternateLookup<ReadOnlySpan<char>> _prefix;
        private readonly bool _hasPrefixes;

        public RouteRules(FrozenDictionary<string, PolicyRule[]> exact, FrozenDictionary<string, PolicyRule[]> prefix)
        {
            _exact = exact;
            _prefix = prefix.GetAlternateLookup<ReadOnlySpan<char>>();
            _hasPrefixes = prefix.Count > 0;
        }

        /// <summary>The most specific applying rule of the wanted effect (exact ID first, then longest prefix).</summary>
        public Decision? Find(in RequestFacts request, bool deny, PolicyTrace? trace, out (PolicyRule Rule, string What)? nearMiss, out PolicyRule? grantMissing, out (PolicyRule Rule, string What)? unknownMiss)
        {
            nearMiss = null;
            grantMissing = null;
            unknownMiss = null;
            var caller = request.Caller;
            if (_exact.TryGetValue(caller.Value, out var rules))
            {
                var rule = FirstApplying(rules, in request, deny, trace, caller.Value, ref nearMiss, ref grantMissing, ref unknownMiss);
                if (rule is not null)
                {
                    return rule;
                }
            }
            if (!_hasPrefixes)
            {
                return null;
            }
            var id = caller.Value.AsSpan();
            for (var end = id.Length - 1; end >= SpiffeId.Scheme.Length; end--)
            {
                if (id[end] != '/')
                {
                    continue;
                }
                if (_prefix.TryGetValue(id[..(end + 1)], out rules))
                {
                    var rule = FirstApplying(rules, in request, deny, trace, trace is null ? null : caller.Value[..(end + 1)] + "*", ref nearMiss, ref grantMissing, ref unknownMiss);
                    if (rule is not null)
                    {
                        return rule;
                    }
                }
            }
            return null;
        }

        private static Decision? FirstApplying(PolicyRule[] rules, in RequestFacts request, bool deny, PolicyTrace? trace, string? matchedBy, ref (PolicyRule, string)? nearMiss, ref PolicyRule? grantMissing, ref (PolicyRule, string)? unknownMiss)
        {
            foreach (var rule in rules)
            {
                if (rule.IsDeny != deny)
                {
                    continue;
                }
                var mismatch = rule.Mismatch(request.Method, request.Path, request.Now, request.Attestation, request.Facts, request.Context, out var unknown);
                if (mismatch is null)
                {
                    if (rule.RequireGrant && (request.Grants is null || !request.Grants.Allows(request.Caller, request.RouteId, request.Now)))
                    {
                        trace?.Weighed(rule, matchedBy!, null, unknown, grantMissing: true);
                        grantMissing ??= rule;
                        continue;
                    }
                    trace?.Weighed(rule, matchedBy!, null, unknown, grantMissing: false);
                    return unknown ? rule.DeniedUnknown : rule.Decision;
                }
                trace?.Weighed(rule, matchedBy!, mismatch, unknown, grantMissing: false);
                if (unknown)
                {
                    unknownMiss ??= (rule, mismatch);
                }
                // A rule that covers the MCP call but not its arguments explains the refusal best.
                if (nearMiss is null || (mismatch.StartsWith("mcp argument ", StringComparison.Ordinal) && !nearMiss.Value.Item2.StartsWith("mcp argument ", StringComparison.Ordinal)))
                {
                    nearMiss = (rule, mismatch);
                }
            }
            return null;
        }
    }
}
