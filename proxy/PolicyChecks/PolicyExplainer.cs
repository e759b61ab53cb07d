using SecretlessProxy.Configuration;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;

namespace SecretlessProxy.PolicyChecks;

/// <summary>
/// Decides a <see cref="PolicyQuery"/> against a compiled config with the proxy's own decision code
/// (<see cref="PolicyModel.Explain"/>: the same lookups and rule checks the proxy runs, with a trace), and says how the
/// route was chosen, why each rule applied or not, and what would change the answer.
/// </summary>
public static class PolicyExplainer
{
    /// <summary>The explanation, or the reason the query cannot be decided (an unknown identity or route).</summary>
    public static Explanation? Explain(ProxyConfig config, PolicyQuery query, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(query);
        var caller = ResolveIdentity(config, query.Identity, out problem);
        if (caller is null)
        {
            return null;
        }
        var name = config.IdentityNames.TryGetValue(caller.Value, out var known) ? known : null;
        var routeLines = new List<string>();
        var routeId = ResolveRoute(config, query, routeLines, out problem);
        if (problem is not null)
        {
            return null;
        }
        if (routeId is null)
        {
            return new Explanation
            {
                Caller = caller.Value,
                CallerName = name,
                RouteLines = routeLines,
                IsAllowed = false,
                Reason = Explanation.NoRoute,
                Detail = "no route matches the request: the proxy answers 404 and forwards nothing",
                WouldChange = ["a route whose Match covers the request (ReverseProxy.Routes.NAME.Match), or --route to decide a route by name"],
            };
        }
        var grants = new GrantSet(query.Grants.SelectMany(g => GrantRoutes(config, g)).Select(route => (caller.Value, route, DateTimeOffset.MinValue, DateTimeOffset.MaxValue)));
        var trace = new PolicyTrace();
        // A database is decided as its gateway does: the role as the operation (case as written), no target.
        var database = config.Databases.Values.Any(d => string.Equals(d.PolicyRoute, routeId, StringComparison.OrdinalIgnoreCase));
        var decision = config.Policy.Explain(caller, routeId, database ? query.Method : query.Method.ToUpperInvariant(), database ? "" : query.Path, query.At, grants, query.AttestedBy, null, new DecisionContext(null, null, null), trace);
        var onRoute = config.Policy.Rules.Where(r => r.Routes.Contains(routeId, StringComparer.OrdinalIgnoreCase)).ToList();
        var naming = onRoute.Where(r => r.Identities.Any(p => p.Matches(caller))).ToList();
        var weighed = trace.Verdicts.Select(v => v.Rule).ToHashSet();
        var after = new List<string>();
        var allowed = decision.IsAllowed;
        var reason = decision.Reason;
        var detail = decision.Detail;
        var rule = decision.Rule?.Name;
        if (allowed && config.RouteCredentials.TryGetValue(routeId, out var binding))
        {
            if (binding.Class is { } secretClass && !secretClass.Permits(caller))
            {
                allowed = false;
                reason = Refusals.RefusalCatalog.CredentialClassNotAllowed.Reason;
                detail = $"{decision.Detail}, but credential '{binding.Name}' is of class '{secretClass.Name}', which this caller may not use (classes.{secretClass.Name}.allow)";
                after.Add($"credential '{binding.Name}' (class '{secretClass.Name}'): this caller is not in the class's allow list, so the proxy refuses before fetching it");
            }
            else
            {
                after.Add($"credential '{binding.Name}' ({binding.ProviderName}) is injected{(binding.Class is { } c ? $"; class '{c.Name}' permits this caller" : "")}");
            }
        }
        if (allowed && config.DecisionHook is { } hook && hook.Covers(routeId))
        {
            after.Add("the external decision hook (decisionHook) is asked after this allow and may still refuse: not consulted here");
        }
        return new Explanation
        {
            Caller = caller.Value,
            CallerName = name,
            Route = routeId,
            RouteLines = routeLines,
            Trace = trace,
            NotNamingCaller = [.. onRoute.Where(r => !naming.Contains(r))],
            NotReached = [.. naming.Where(r => !weighed.Contains(r))],
            IsAllowed = allowed,
            Reason = reason,
            Rule = rule,
            Detail = detail,
            After = after,
            WouldChange = WouldChange(decision, trace, caller, routeId, onRoute, naming, allowed),
        };
    }

    /// <summary>A SPIFFE ID, or the exact ID a name under <c>identities</c> stands for; null with the problem otherwise.</summary>
    public static SpiffeId? ResolveIdentity(ProxyConfig config, string identity, out string? problem) =>
        ResolveIdentity(config, identity, out problem, out var fix) ?? (problem is null ? null : Fail(ref problem, fix));

    private static SpiffeId? Fail(ref string? problem, string fix)
    {
        problem += ". Fix: " + fix;
        return null;
    }

    /// <summary>As above, with the problem and its fix apart (the case file prints them in its own error format).</summary>
    public static SpiffeId? ResolveIdentity(ProxyConfig config, string identity, out string? problem, out string fix)
    {
        ArgumentNullException.ThrowIfNull(config);
        problem = null;
        fix = "use a SPIFFE ID, or a name under the config's identities that stands for one ID";
        if (identity.StartsWith(SpiffeId.Scheme, StringComparison.OrdinalIgnoreCase))
        {
            if (SpiffeId.TryParse(identity, out var id, out var error))
            {
                return id;
            }
            problem = $"'{identity}' is not a valid SPIFFE ID: {error}";
            return null;
        }
        var entry = config.IdentityNames.FirstOrDefault(pair => string.Equals(pair.Value, identity, StringComparison.OrdinalIgnoreCase));
        if (entry.Key is null)
        {
            problem = $"'{identity}' is neither a SPIFFE ID nor a name under identities";
            fix = KeySuggestion.Fix(identity, config.IdentityNames.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal), "identity names");
            return null;
        }
        if (entry.Key.EndsWith("/*", StringComparison.Ordinal))
        {
            problem = $"identity '{identity}' stands for every ID under {entry.Key}, not one caller";
            fix = $"give one of them, e.g. {entry.Key[..^1]}example";
            return null;
        }
        return SpiffeId.Parse(entry.Key);
    }

    private static IEnumerable<string> GrantRoutes(ProxyConfig config, string grant) =>
        // A grant for a credential opens every route that injects it, as the proxy expands it.
        config.Credentials.ContainsKey(grant)
            ? config.RouteCredentials.Where(pair => string.Equals(pair.Value.Name, grant, StringComparison.OrdinalIgnoreCase)).Select(pair => pair.Key)
            : [config.Databases.TryGetValue(grant, out var database) ? database.PolicyRoute : grant];

    private static string? ResolveRoute(ProxyConfig config, PolicyQuery query, List<string> lines, out string? problem)
    {
        problem = null;
        if (query.Route is { } named)
        {
            if (config.Routes.FirstOrDefault(r => string.Equals(r.RouteId, named, StringComparison.OrdinalIgnoreCase)) is { } route)
            {
                lines.Add($"route '{route.RouteId}' (given)");
                return route.RouteId;
            }
            if (config.Databases.TryGetValue(named, out var database))
            {
                lines.Add($"database '{database.Name}' (given), decided as route '{database.PolicyRoute}' with the method as the database role");
                return database.PolicyRoute;
            }
            var known = config.Routes.Select(r => r.RouteId).Concat(config.Databases.Keys).Order(StringComparer.Ordinal);
            problem = $"'{named}' is neither a route under ReverseProxy.Routes nor a database; {KeySuggestion.Fix(named, known, "routes")}";
            return null;
        }
        var candidates = RouteMatch.Candidates(config.Routes, query.Method.ToUpperInvariant(), query.Path, query.Host);
        if (candidates.Count == 0)
        {
            lines.Add($"no route matches {query.Method} {query.Path}{(query.Host is null ? "" : " on host " + query.Host)}");
            return null;
        }
        var winner = candidates[0];
        lines.Add($"route '{winner.RouteId}' matches {query.Method} {query.Path} (Match.Path {winner.Match.Path ?? "(any)"}{(winner.Match.Methods is { Count: > 0 } m ? ", Methods " + string.Join(',', m) : "")}{(winner.Match.Hosts is { Count: > 0 } h ? ", Hosts " + string.Join(',', h) : "")})");
        foreach (var other in candidates.Skip(1))
        {
            lines.Add($"route '{other.RouteId}' also matches, but comes later (Order, then the more specific path wins)");
        }
        if (query.Host is null && config.Routes.Any(r => r.Match.Hosts is { Count: > 0 }))
        {
            lines.Add("some routes match on Hosts: no --host given, so hosts were not compared");
        }
        return winner.RouteId;
    }

    private static List<string> WouldChange(Decision decision, PolicyTrace trace, SpiffeId caller, string routeId, List<PolicyRule> onRoute, List<PolicyRule> naming, bool allowed)
    {
        var changes = new List<string>();
        if (trace.RouteUnknown)
        {
            changes.Add($"no rule names route '{routeId}': a rule with routes: [{routeId}] that allows this caller");
            return changes;
        }
        if (decision.IsAllowed)
        {
            var winner = decision.Rule!;
            var denies = onRoute.Where(r => r.IsDeny).Select(r => $"'{r.Name}'").ToList();
            changes.Add($"a deny rule that applies to this caller and request{(denies.Count > 0 ? " (deny rules on the route: " + string.Join(", ", denies) + ")" : "")}: deny beats allow");
            changes.Add($"rule '{winner.Name}' no longer covering it ({Conditions(winner)}), unless another allow rule does");
            if (!allowed)
            {
                changes.Add("the caller being allowed by the credential's class");
            }
            return changes;
        }
        if (decision.Rule is { IsDeny: true } deny)
        {
            changes.Add($"deny rule '{deny.Name}' beats every allow rule: change or remove it ({Conditions(deny)})");
            return changes;
        }
        foreach (var verdict in trace.Verdicts.Where(v => !v.Rule.IsDeny))
        {
            if (verdict.GrantMissing)
            {
                var approvers = verdict.Rule.Approvers is null ? "" : " (the rule's approvers may grant it: POST /access-requests)";
                changes.Add($"a live grant for route '{routeId}' (or its credential): rule '{verdict.Rule.Name}' would then allow it{approvers}");
            }
            else if (verdict.Mismatch is { } what)
            {
                changes.Add($"rule '{verdict.Rule.Name}' would allow it with a different {what} (it needs {Conditions(verdict.Rule)})");
            }
        }
        if (naming.Count == 0)
        {
            var allows = onRoute.Where(r => !r.IsDeny).Select(r => $"'{r.Name}' ({string.Join(", ", r.Identities)})").ToList();
            changes.Add(allows.Count == 0
                ? $"no allow rule names route '{routeId}': add one naming {caller.Value}"
                : $"no rule names {caller.Value} on route '{routeId}': add it to the allow list of one of {string.Join("; ", allows)}, or write a new rule");
        }
        return changes;
    }

    /// <summary>A rule's conditions in words: methods, paths, schedule, grant, attestation.</summary>
    internal static string Conditions(PolicyRule rule)
    {
        var parts = new List<string>
        {
            "methods " + (rule.Methods is null ? "any" : string.Join(",", rule.Methods.Order(StringComparer.Ordinal))),
            "paths " + (rule.Paths is null ? "any" : string.Join(" ", rule.Paths)),
        };
        if (rule.Schedule is not null)
        {
            parts.Add("schedule " + rule.Schedule);
        }
        if (rule.AttestedBy is not null)
        {
            parts.Add("attestedBy " + string.Join(",", rule.AttestedBy.Select(AttestationKinds.Name)));
        }
        if (rule.When is not null || rule.Conditions is not null)
        {
            parts.Add("when conditions");
        }
        if (rule.Mcp is not null)
        {
            parts.Add("an mcp block");
        }
        if (rule.RequireGrant)
        {
            parts.Add("a live grant");
        }
        return string.Join("; ", parts);
    }
}
