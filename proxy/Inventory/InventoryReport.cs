using System.Text.Json.Nodes;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Grants;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Inventory;

/// <summary>
/// The inventory as JSON, from live state: each identity with the routes it may use (policy and grants), what it
/// actually called and obtained (first and last use, current TTLs); static credentials still in use; allow rules
/// not used for N days; identities seen but denied.
/// </summary>
internal static class InventoryReport
{
    public static JsonObject Build(ProxyConfig config, GrantService grants, UsageTracker usage, DateTimeOffset now, int staleDays) =>
        Build(config, grants, usage, now, staleDays, UsageSnapshot.Of(usage, null), null, null);

    /// <param name="shared">Usage for the secrets' consumers and facts: every replica's (Redis) or this one's.</param>
    /// <param name="owner">When given (or <paramref name="team"/>), only what that owner (team) owns.</param>
    public static JsonObject Build(ProxyConfig config, GrantService grants, UsageTracker usage, DateTimeOffset now, int staleDays, UsageSnapshot shared, string? owner, string? team)
    {
        ArgumentNullException.ThrowIfNull(shared);
        var filtered = owner is not null || team is not null;
        var live = grants.All.Where(g => g.IsLive(now)).ToList();
        var ids = new SortedSet<string>(usage.Identities.Keys, StringComparer.Ordinal);
        foreach (var grant in live)
        {
            ids.Add(grant.Identity);
        }
        foreach (var rule in config.Policy.Rules)
        {
            foreach (var pattern in rule.Identities.Where(p => !p.IsPrefix))
            {
                ids.Add(pattern.Key);
            }
        }

        var identities = new JsonArray();
        foreach (var text in ids)
        {
            if (!SpiffeId.TryParse(text, out var id, out _))
            {
                continue;
            }
            var owners = config.OwnerOfIdentity(text);
            if (filtered && (!owners.Matches(owner, team) || owners == Ownership.None))
            {
                continue;
            }
            usage.Identities.TryGetValue(text, out var seen);
            var entry = new JsonObject
            {
                ["identity"] = text,
                ["name"] = config.IdentityNames.GetValueOrDefault(text),
                ["owner"] = owners.Owner,
                ["team"] = owners.Team,
                ["firstSeen"] = seen?.Seen.First,
                ["lastSeen"] = seen?.Seen.Last,
                ["allowed"] = seen?.Allowed ?? 0,
                ["denied"] = seen?.Denied ?? 0,
                ["mayUse"] = MayUse(config, id, live),
                ["used"] = Used(seen),
                ["attestations"] = new JsonArray([.. (seen?.Attestations.Keys ?? []).Order(StringComparer.Ordinal).Select(a => (JsonNode)a)]),
                ["credentials"] = Credentials(config, text, seen, now),
            };
            identities.Add(entry);
        }

        var patterns = new JsonArray();
        foreach (var path in PolicyInventory.Paths(config, config.IdentityNames).Where(p => p.Identity.EndsWith("/*", StringComparison.Ordinal)))
        {
            if (!filtered || path.OwnedBy(owner, team))
            {
                patterns.Add(PathJson(path));
            }
        }

        var duplicates = ReconcileReport.DuplicateGroups(config, shared);
        var secrets = new JsonArray();
        foreach (var binding in config.Credentials.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            if (filtered && !(new Ownership(binding.Owner, binding.Team).Matches(owner, team) && (binding.Owner is not null || binding.Team is not null)))
            {
                continue;
            }
            secrets.Add(SecretJson(binding, shared, duplicates, now));
        }
        var stores = new JsonArray();
        foreach (var store in config.Stores.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        {
            if (filtered && !(new Ownership(store.Owner, store.Team).Matches(owner, team) && (store.Owner is not null || store.Team is not null)))
            {
                continue;
            }
            stores.Add(new JsonObject
            {
                ["store"] = store.Name,
                ["type"] = store.Type,
                ["provider"] = store.Provider,
                ["location"] = store.Location,
                ["description"] = store.Description,
                ["owner"] = store.Owner,
                ["team"] = store.Team,
                ["credentials"] = new JsonArray([.. config.Credentials.Values.Where(b => b.StoreIsNamed && string.Equals(b.Store, store.Name, StringComparison.OrdinalIgnoreCase))
                    .Select(b => (JsonNode)b.Name).OrderBy(n => n!.GetValue<string>(), StringComparer.Ordinal)]),
            });
        }
        var duplicated = new JsonArray();
        foreach (var finding in ReconcileReport.Duplicates(config, shared))
        {
            duplicated.Add(new JsonObject { ["credentials"] = new JsonArray([.. finding.Related.Select(r => (JsonNode)r)]), ["stores"] = finding.Store, ["detail"] = finding.Detail });
        }
        var parallel = new JsonArray();
        foreach (var finding in ReconcileReport.ParallelPaths(config, shared))
        {
            if (!filtered || new Ownership(finding.Owner, finding.Team).Matches(owner, team) && (finding.Owner is not null || finding.Team is not null))
            {
                parallel.Add(new JsonObject { ["identity"] = finding.Identity, ["host"] = finding.Host, ["credentials"] = new JsonArray([.. finding.Related.Select(r => (JsonNode)r)]), ["detail"] = finding.Detail });
            }
        }

        var report = new JsonObject
        {
            ["generatedAt"] = now,
            ["owner"] = owner,
            ["team"] = team,
            ["usageSource"] = shared.Source,
            ["trackingSince"] = usage.Since,
            ["staleAfterDays"] = staleDays,
            ["untrackedIdentities"] = usage.Untracked,
            ["identities"] = identities,
            ["patterns"] = patterns,
            ["staticCredentialsInUse"] = StaticInUse(usage),
            ["staleAllowRules"] = StaleRules(config, usage, now, staleDays),
            ["deniedIdentities"] = Denied(usage),
            ["secrets"] = secrets,
            ["stores"] = stores,
            ["classes"] = Classes(config),
            ["duplicatedAccessPaths"] = duplicated,
            ["parallelAccessPaths"] = parallel,
            ["mcpRoutes"] = McpRoutes(config, shared, filtered ? (owner, team) : null),
        };
        if (filtered)
        {
            report["owned"] = Owned(config, owner, team);
        }
        return report;
    }

    /// <summary>
    /// Per MCP route (those configured, and any with usage), the agents that called tools on it: per agent its calls,
    /// refusals, first and last use and the users it acted for; per tool the same, each user with its last call. From
    /// <paramref name="shared"/>: every replica's when Redis is configured. With an owner filter, the routes that owner owns.
    /// </summary>
    internal static JsonArray McpRoutes(ProxyConfig config, UsageSnapshot shared, (string? Owner, string? Team)? ownedBy)
    {
        var routes = new SortedSet<string>(config.McpRoutes.Keys, StringComparer.Ordinal);
        routes.UnionWith(shared.McpTools.Keys.Select(k => k.Route));
        var result = new JsonArray();
        foreach (var route in routes)
        {
            var owners = config.RouteOwners.GetValueOrDefault(route) ?? Ownership.None;
            if (ownedBy is { } by && (!owners.Matches(by.Owner, by.Team) || owners == Ownership.None))
            {
                continue;
            }
            var agents = new JsonArray();
            foreach (var agent in shared.McpTools.Where(t => t.Key.Route == route).GroupBy(t => t.Key.Identity, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                var tools = new JsonArray();
                var agentUsers = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var (key, seen) in agent.OrderBy(t => t.Key.Tool, StringComparer.Ordinal))
                {
                    var users = shared.McpUsers.GetValueOrDefault(key) ?? [];
                    agentUsers.UnionWith(users.Keys);
                    tools.Add(new JsonObject
                    {
                        ["tool"] = key.Tool,
                        ["calls"] = seen.Count,
                        ["refused"] = seen.Denied,
                        ["firstUse"] = seen.First,
                        ["lastUse"] = seen.Last,
                        ["users"] = new JsonArray([.. users.OrderBy(u => u.Key, StringComparer.Ordinal).Select(u => (JsonNode)new JsonObject { ["user"] = u.Key, ["lastUse"] = u.Value })]),
                    });
                }
                agents.Add(new JsonObject
                {
                    ["identity"] = agent.Key,
                    ["name"] = config.IdentityNames.GetValueOrDefault(agent.Key),
                    ["calls"] = agent.Sum(t => t.Value.Count),
                    ["refused"] = agent.Sum(t => t.Value.Denied),
                    ["firstUse"] = agent.Select(t => t.Value.First).Min(),
                    ["lastUse"] = agent.Select(t => t.Value.Last).Max(),
                    ["users"] = new JsonArray([.. agentUsers.Select(u => (JsonNode)u)]),
                    ["tools"] = tools,
                });
            }
            result.Add(new JsonObject { ["route"] = route, ["owner"] = owners.Owner, ["team"] = owners.Team, ["agents"] = agents });
        }
        return result;
    }

    /// <summary>One secret: where it lives, its class and owner, who obtained it, when it was last fetched, its lease or version, and duplicates.</summary>
    private static JsonObject SecretJson(CredentialBinding binding, UsageSnapshot shared, List<List<string>> duplicates, DateTimeOffset now)
    {
        var facts = shared.Secrets.GetValueOrDefault(binding.Name);
        var (since, source) = binding.IssuesStaticSecrets ? ReconcileReport.AgeOf(binding, shared) : (null, "");
        return new JsonObject
        {
            ["credential"] = binding.Name,
            ["provider"] = binding.ProviderName,
            ["store"] = binding.Store,
            ["path"] = binding.StorePath,
            ["class"] = binding.Class?.Name,
            ["owner"] = binding.Owner,
            ["team"] = binding.Team,
            ["static"] = binding.IssuesStaticSecrets,
            ["storeAuthDebt"] = binding.StoreAuthDebt,
            ["consumers"] = new JsonArray([.. shared.ConsumersOf(binding.Name).Select(c => (JsonNode)c)]),
            ["lastUse"] = shared.LastUseOf(binding.Name),
            ["lastFetch"] = facts?.LastFetch,
            ["leaseId"] = facts?.LeaseId,
            ["version"] = facts?.Version,
            ["versionCreatedAt"] = facts?.VersionCreatedAt,
            ["ageDays"] = since is { } at ? Math.Round((now - at).TotalDays, 1) : null,
            ["ageSource"] = since is null ? null : source,
            ["duplicateOf"] = new JsonArray([.. (duplicates.FirstOrDefault(g => g.Contains(binding.Name, StringComparer.OrdinalIgnoreCase)) ?? [])
                .Where(n => !string.Equals(n, binding.Name, StringComparison.OrdinalIgnoreCase)).Select(n => (JsonNode)n)]),
        };
    }

    private static JsonArray Classes(ProxyConfig config)
    {
        var result = new JsonArray();
        foreach (var secretClass in config.Classes.Values.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            result.Add(new JsonObject
            {
                ["class"] = secretClass.Name,
                ["description"] = secretClass.Description,
                ["maxTtlSeconds"] = secretClass.MaxTtl is { } ttl ? ttl.TotalSeconds : null,
                ["allow"] = new JsonArray([.. secretClass.Allow.Select(p => (JsonNode)p.Text)]),
                ["owner"] = secretClass.Owner,
                ["team"] = secretClass.Team,
                ["credentials"] = new JsonArray([.. config.Credentials.Values.Where(b => b.Class == secretClass).Select(b => (JsonNode)b.Name).OrderBy(n => n!.GetValue<string>(), StringComparer.Ordinal)]),
            });
        }
        return result;
    }

    /// <summary>Everything the config says <paramref name="owner"/>/<paramref name="team"/> owns, by kind.</summary>
    private static JsonObject Owned(ProxyConfig config, string? owner, string? team)
    {
        static bool Has(Ownership o, string? owner, string? team) => (o.Owner is not null || o.Team is not null) && o.Matches(owner, team);
        JsonArray Names(IEnumerable<string> names) => new([.. names.Order(StringComparer.Ordinal).Select(n => (JsonNode)n)]);
        return new JsonObject
        {
            ["identities"] = Names(config.IdentityOwners.Where(i => Has(i.Value, owner, team)).Select(i => i.Key)),
            ["credentials"] = Names(config.Credentials.Values.Where(b => Has(new Ownership(b.Owner, b.Team), owner, team)).Select(b => b.Name)),
            ["routes"] = Names(config.RouteOwners.Where(r => Has(r.Value, owner, team)).Select(r => r.Key)),
            ["stores"] = Names(config.Stores.Values.Where(s => Has(new Ownership(s.Owner, s.Team), owner, team)).Select(s => s.Name)),
            ["classes"] = Names(config.Classes.Values.Where(c => Has(new Ownership(c.Owner, c.Team), owner, team)).Select(c => c.Name)),
        };
    }

    private static JsonArray MayUse(ProxyConfig config, SpiffeId id, List<Grant> live)
    {
        var result = new JsonArray();
        var paths = PolicyInventory.PathsOf(config, id);
        foreach (var path in paths.Where(p => !p.IsDeny))
        {
            var grant = live.Where(g => g.Identity == id.Value && (g.Route == path.Route || g.Credential is not null && g.Credential == path.Credential))
                .OrderByDescending(g => g.Until).FirstOrDefault();
            var json = PathJson(path);
            json["deniedBy"] = paths.FirstOrDefault(d => d.IsDeny && d.Route == path.Route && d.Methods is null && d.Paths is null && d.Schedule is null)?.Rule;
            json["grant"] = grant?.Id;
            json["grantUntil"] = grant?.Until;
            json["usableNow"] = json["deniedBy"] is null && (!path.RequiresGrant || grant is not null);
            result.Add(json);
        }
        return result;
    }

    private static JsonObject PathJson(AccessPath path) => new()
    {
        ["identity"] = path.Identity,
        ["name"] = path.IdentityName,
        ["route"] = path.Route,
        ["rule"] = path.Rule,
        ["effect"] = path.IsDeny ? "deny" : "allow",
        ["methods"] = path.Methods,
        ["paths"] = path.Paths,
        ["schedule"] = path.Schedule,
        ["requiresGrant"] = path.RequiresGrant,
        ["credential"] = path.Credential,
        ["provider"] = path.Provider,
        ["staticCredential"] = path.StaticCredential,
        ["store"] = path.Store,
        ["class"] = path.Class,
        ["routeOwner"] = path.RouteOwners.Owner,
        ["routeTeam"] = path.RouteOwners.Team,
        ["credentialOwner"] = path.CredentialOwners.Owner,
        ["credentialTeam"] = path.CredentialOwners.Team,
    };

    private static JsonArray Used(UsageTracker.IdentityUsage? seen)
    {
        var result = new JsonArray();
        if (seen is null)
        {
            return result;
        }
        foreach (var (route, counter) in seen.Routes.OrderBy(r => r.Key, StringComparer.OrdinalIgnoreCase))
        {
            result.Add(new JsonObject
            {
                ["route"] = route,
                ["firstUse"] = counter.First,
                ["lastUse"] = counter.Last,
                ["allowed"] = counter.Allowed,
                ["denied"] = counter.Refused,
            });
        }
        return result;
    }

    private static JsonArray Credentials(ProxyConfig config, string identity, UsageTracker.IdentityUsage? seen, DateTimeOffset now)
    {
        var result = new JsonArray();
        if (seen is null)
        {
            return result;
        }
        foreach (var (name, use) in seen.Credentials.OrderBy(c => c.Key, StringComparer.OrdinalIgnoreCase))
        {
            DateTimeOffset? expiresAt = null;
            if (config.Credentials.TryGetValue(name, out var binding))
            {
                var cache = binding.Provider.IsWorkloadBound ? binding.CacheOfWorkload(identity) : binding.Cache;
                if (cache?.Current is { } entry && entry.ExpiresAt > now)
                {
                    expiresAt = entry.ExpiresAt;
                }
            }
            result.Add(new JsonObject
            {
                ["credential"] = name,
                ["provider"] = use.Provider,
                ["static"] = use.Static,
                ["firstUse"] = use.Counter.First,
                ["lastUse"] = use.Counter.Last,
                ["requests"] = use.Counter.Allowed,
                ["lastSource"] = Audit.DecisionRecord.SourceName(use.LastSource),
                ["cachedUntil"] = expiresAt,
                ["ttlSeconds"] = expiresAt is { } until ? Math.Round((until - now).TotalSeconds) : null,
                ["executables"] = new JsonArray([.. use.Executables.Keys.OrderBy(e => e.Path, StringComparer.Ordinal).ThenBy(e => e.Sha256, StringComparer.Ordinal)
                    .Select(e => (JsonNode)new JsonObject { ["path"] = e.Path, ["sha256"] = e.Sha256 })]),
            });
        }
        return result;
    }

    private static JsonArray StaticInUse(UsageTracker usage)
    {
        var byCredential = new SortedDictionary<string, (string? Provider, SortedSet<string> Identities, DateTimeOffset? First, DateTimeOffset? Last, long Requests)>(StringComparer.OrdinalIgnoreCase);
        foreach (var (identity, seen) in usage.Identities)
        {
            foreach (var (name, use) in seen.Credentials.Where(c => c.Value.Static))
            {
                var current = byCredential.GetValueOrDefault(name, (use.Provider, new SortedSet<string>(StringComparer.Ordinal), null, null, 0));
                current.Identities.Add(identity);
                current.First = Min(current.First, use.Counter.First);
                current.Last = Max(current.Last, use.Counter.Last);
                current.Requests += use.Counter.Allowed;
                byCredential[name] = current;
            }
        }
        var result = new JsonArray();
        foreach (var (name, info) in byCredential)
        {
            result.Add(new JsonObject
            {
                ["credential"] = name,
                ["provider"] = info.Provider,
                ["identities"] = new JsonArray([.. info.Identities.Select(i => (JsonNode)i)]),
                ["firstUse"] = info.First,
                ["lastUse"] = info.Last,
                ["requests"] = info.Requests,
            });
        }
        return result;
    }

    private static JsonArray StaleRules(ProxyConfig config, UsageTracker usage, DateTimeOffset now, int staleDays)
    {
        var cutoff = now - TimeSpan.FromDays(staleDays);
        var result = new JsonArray();
        foreach (var rule in config.Policy.Rules.Where(r => !r.IsDeny))
        {
            var last = usage.RuleLastUsed.TryGetValue(rule.Name, out var stamp) ? stamp.Value : null;
            if (last is null ? usage.Since <= cutoff : last < cutoff)
            {
                result.Add(new JsonObject
                {
                    ["rule"] = rule.Name,
                    ["routes"] = new JsonArray([.. rule.Routes.Select(r => (JsonNode)r)]),
                    ["lastUsed"] = last,
                });
            }
        }
        return result;
    }

    private static JsonArray Denied(UsageTracker usage)
    {
        var result = new JsonArray();
        foreach (var (identity, seen) in usage.Identities.Where(i => i.Value.Denied > 0).OrderBy(i => i.Key, StringComparer.Ordinal))
        {
            result.Add(new JsonObject
            {
                ["identity"] = identity,
                ["denied"] = seen.Denied,
                ["allowed"] = seen.Allowed,
                ["lastSeen"] = seen.Seen.Last,
                ["lastReason"] = seen.LastDeniedReason,
                ["routes"] = new JsonArray([.. seen.Routes.Where(r => r.Value.Refused > 0).Select(r => (JsonNode)r.Key).OrderBy(r => r!.GetValue<string>(), StringComparer.Ordinal)]),
            });
        }
        return result;
    }

    private static DateTimeOffset? Min(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    private static DateTimeOffset? Max(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a > b ? a : b;
}
