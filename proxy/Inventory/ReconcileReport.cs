using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Inventory;

/// <summary>One thing the reconciliation found: a kind, what it is about, and the names that go with it (never a secret).</summary>
public sealed record Finding(string Kind, string Subject, string Detail)
{
    public string? Identity { get; init; }

    public string? Credential { get; init; }

    public string? Route { get; init; }

    public string? Rule { get; init; }

    public string? Store { get; init; }

    public string? Host { get; init; }

    public string? Owner { get; init; }

    public string? Team { get; init; }

    public DateTimeOffset? LastUse { get; init; }

    public double? AgeDays { get; init; }

    /// <summary>Other names the finding ties together (the credentials of a parallel or duplicated path).</summary>
    public IReadOnlyList<string> Related { get; init; } = [];
}

/// <summary>
/// The reconciliation report: what the config and the usage facts disagree about, or what is debt. From the config
/// alone (always): identities without an owner, credentials no rule reaches, static secrets with their age (file
/// modification time), parallel access paths (one identity, one upstream host, two credentials), stores no credential
/// uses, classes whose maximum TTL a static secret cannot honour, rules that allow an identity a credential's class
/// refuses. With usage (the running proxy, or Redis): credentials unused for N days, rules naming identities never seen,
/// ages from store version dates, and duplicated values (one secret reachable through two credentials or stores,
/// compared by keyed fingerprint).
/// </summary>
public static class ReconcileReport
{
    public const string IdentityWithoutOwner = "identity_without_owner";
    public const string CredentialNotInRules = "credential_not_in_rules";
    public const string CredentialUnused = "credential_unused";
    public const string RuleIdentityNeverSeen = "rule_identity_never_seen";
    public const string StaticSecret = "static_secret";
    public const string ParallelAccessPath = "parallel_access_path";
    public const string DuplicatedSecret = "duplicated_secret";
    public const string StoreUnused = "store_unused";
    public const string ClassTtlUnenforceable = "class_ttl_unenforceable";
    public const string ClassRefusesRule = "class_refuses_rule";

    /// <summary>Providers whose secrets have no lifetime the proxy controls (watched files, variables, Kubernetes Secrets).</summary>
    private static readonly HashSet<string> Uncapped = new[] { "file", "env", "secret-dir", "kubernetes-secret" }.ToHashSet(StringComparer.OrdinalIgnoreCase);

    public static List<Finding> Find(ProxyConfig config, UsageSnapshot usage, DateTimeOffset now, int unusedDays)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(usage);
        var findings = new List<Finding>();
        IdentitiesWithoutOwner(config, usage, findings);
        NotInRules(config, findings);
        if (usage.HasUsage)
        {
            Unused(config, usage, now, unusedDays, findings);
            NeverSeen(config, usage, findings);
        }
        StaticSecrets(config, usage, now, findings);
        findings.AddRange(ParallelPaths(config, usage));
        findings.AddRange(Duplicates(config, usage));
        foreach (var store in config.Stores.Values.Where(s => !config.Credentials.Values.Any(b => b.StoreIsNamed && string.Equals(b.Store, s.Name, StringComparison.OrdinalIgnoreCase))))
        {
            findings.Add(new Finding(StoreUnused, store.Name, $"store '{store.Name}' ({store.Type}) is named under stores, but no credential uses it") { Store = store.Name, Owner = store.Owner, Team = store.Team });
        }
        foreach (var binding in config.Credentials.Values.Where(b => b.Class?.MaxTtl is not null && Uncapped.Contains(b.ProviderName)))
        {
            findings.Add(new Finding(ClassTtlUnenforceable, binding.Name,
                $"class '{binding.Class!.Name}' allows at most {binding.Class.MaxTtl}, but '{binding.Name}' is a {binding.ProviderName} secret with no lifetime the proxy controls")
            { Credential = binding.Name, Store = binding.Store, Owner = binding.Owner, Team = binding.Team });
        }
        ClassRefusals(config, findings);
        return [.. findings.OrderBy(f => f.Kind, StringComparer.Ordinal).ThenBy(f => f.Subject, StringComparer.Ordinal)];
    }

    /// <summary>Findings about something <paramref name="owner"/> (and/or <paramref name="team"/>) owns.</summary>
    public static List<Finding> OwnedBy(IEnumerable<Finding> findings, string? owner, string? team)
    {
        ArgumentNullException.ThrowIfNull(findings);
        return owner is null && team is null ? [.. findings] : [.. findings.Where(f => (f.Owner is not null || f.Team is not null) && new Ownership(f.Owner, f.Team).Matches(owner, team))];
    }

    private static void IdentitiesWithoutOwner(ProxyConfig config, UsageSnapshot usage, List<Finding> findings)
    {
        foreach (var (text, name) in config.IdentityNames.OrderBy(i => i.Value, StringComparer.Ordinal))
        {
            var owners = config.IdentityOwners.GetValueOrDefault(name) ?? Ownership.None;
            if (owners.Owner is null && owners.Team is null)
            {
                findings.Add(new Finding(IdentityWithoutOwner, text, $"identity '{name}' has no owner or team") { Identity = text });
            }
        }
        var patterns = config.IdentityNames.Keys.Select(t => SpiffeIdPattern.TryParse(t, out var p, out _) ? p : null).OfType<SpiffeIdPattern>().ToList();
        foreach (var (text, seen) in usage.Identities.OrderBy(i => i.Key, StringComparer.Ordinal))
        {
            if (SpiffeId.TryParse(text, out var id, out _) && !patterns.Any(p => p.Matches(id)))
            {
                findings.Add(new Finding(IdentityWithoutOwner, text, $"seen ({seen.Count} allowed, {seen.Denied} denied calls) but not declared under identities, so it has no owner") { Identity = text, LastUse = seen.Last });
            }
        }
    }

    /// <summary>Credentials that no allow rule reaches: no allowed route injects them and no allowed database role uses them.</summary>
    private static void NotInRules(ProxyConfig config, List<Finding> findings)
    {
        var reached = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var rule in config.Policy.Rules.Where(r => !r.IsDeny))
        {
            foreach (var route in rule.Routes)
            {
                if (config.RouteCredentials.TryGetValue(route, out var binding))
                {
                    reached.Add(binding.Name);
                }
                if (config.Databases.TryGetValue(route, out var database))
                {
                    reached.UnionWith(database.Roles.Values.Select(r => r.Credential));
                }
            }
        }
        foreach (var binding in config.Credentials.Values.Where(b => !reached.Contains(b.Name)).OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            var routes = config.RouteCredentials.Where(r => r.Value.Name == binding.Name).Select(r => r.Key).Order(StringComparer.Ordinal).ToList();
            findings.Add(new Finding(CredentialNotInRules, binding.Name, routes.Count == 0
                ? $"credential '{binding.Name}' is on no route and no database role"
                : $"credential '{binding.Name}' is on route(s) {string.Join(", ", routes)}, which no allow rule opens")
            { Credential = binding.Name, Store = binding.Store, Owner = binding.Owner, Team = binding.Team, Related = routes });
        }
    }

    private static void Unused(ProxyConfig config, UsageSnapshot usage, DateTimeOffset now, int days, List<Finding> findings)
    {
        var cutoff = now - TimeSpan.FromDays(days);
        foreach (var binding in config.Credentials.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            var last = usage.LastUseOf(binding.Name);
            // A credential used at all is "unused for N days" only for N of one day or more: 0 lists the never used.
            if (last is null ? (usage.Since ?? now) <= cutoff : days > 0 && last < cutoff)
            {
                findings.Add(new Finding(CredentialUnused, binding.Name, last is null
                    ? $"credential '{binding.Name}' was never used since usage tracking began ({usage.Since:u})"
                    : $"credential '{binding.Name}' was last used {last:u}, more than {days} day(s) ago")
                { Credential = binding.Name, Store = binding.Store, Owner = binding.Owner, Team = binding.Team, LastUse = last });
            }
        }
    }

    private static void NeverSeen(ProxyConfig config, UsageSnapshot usage, List<Finding> findings)
    {
        var seen = usage.Identities.Keys.Select(t => SpiffeId.TryParse(t, out var id, out _) ? id : null).OfType<SpiffeId>().ToList();
        foreach (var rule in config.Policy.Rules)
        {
            foreach (var pattern in rule.Identities)
            {
                if (!seen.Any(pattern.Matches))
                {
                    var owners = config.OwnerOfIdentity(pattern.Text);
                    findings.Add(new Finding(RuleIdentityNeverSeen, pattern.Text,
                        $"rule '{rule.Name}' names {(pattern.IsPrefix ? "pattern" : "identity")} {pattern.Text}, which no call has come from since {usage.Since:u}")
                    { Identity = pattern.Text, Rule = rule.Name, Owner = owners.Owner, Team = owners.Team });
                }
            }
        }
    }

    /// <summary>The age of a static secret: its file's modification time, else the store's version date; null when neither is known.</summary>
    public static (DateTimeOffset? Since, string Source) AgeOf(CredentialBinding binding, UsageSnapshot usage)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(usage);
        if (binding.SourceFile is { } file && File.Exists(file))
        {
            return (new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero), "file modification time");
        }
        if (usage.Secrets.GetValueOrDefault(binding.Name)?.VersionCreatedAt is { } created)
        {
            return (created, "store version date");
        }
        return (null, binding.ProviderName == "env" ? "unknown (an environment variable has no date)" : "unknown until the proxy has read it (needs the running proxy or Redis)");
    }

    private static void StaticSecrets(ProxyConfig config, UsageSnapshot usage, DateTimeOffset now, List<Finding> findings)
    {
        foreach (var binding in config.Credentials.Values.Where(b => b.IssuesStaticSecrets).OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            var (since, source) = AgeOf(binding, usage);
            double? age = since is { } at ? Math.Round((now - at).TotalDays, 1) : null;
            findings.Add(new Finding(StaticSecret, binding.Name,
                $"long-lived {binding.ProviderName} secret{(binding.StorePath is { } path ? $" at {path}" : "")}: migration debt; age {(age is { } days ? $"{days.ToString(CultureInfo.InvariantCulture)} day(s) ({source})" : source)}{(binding.StoreAuthDebt is { } debt ? "; it " + debt : "")}")
            { Credential = binding.Name, Store = binding.Store, Owner = binding.Owner, Team = binding.Team, AgeDays = age, LastUse = usage.LastUseOf(binding.Name) });
        }
    }

    /// <summary>The upstream hosts (host:port of the destinations) of a route's cluster.</summary>
    private static List<string> HostsOf(ProxyConfig config, string route)
    {
        var clusterId = config.Routes.FirstOrDefault(r => string.Equals(r.RouteId, route, StringComparison.OrdinalIgnoreCase))?.ClusterId;
        var cluster = config.Clusters.FirstOrDefault(c => string.Equals(c.ClusterId, clusterId, StringComparison.OrdinalIgnoreCase));
        return [.. (cluster?.Destinations?.Values ?? []).Select(d => Uri.TryCreate(d.Address, UriKind.Absolute, out var uri) ? (uri.Host + ":" + uri.Port.ToString(CultureInfo.InvariantCulture)).ToLowerInvariant() : null).OfType<string>().Distinct(StringComparer.Ordinal)];
    }

    /// <summary>One identity (or pattern) that reaches one upstream host through two or more credentials.</summary>
    public static List<Finding> ParallelPaths(ProxyConfig config, UsageSnapshot usage)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(usage);
        var subjects = new SortedDictionary<string, IReadOnlyList<AccessPath>>(StringComparer.Ordinal);
        foreach (var text in config.IdentityNames.Keys.Concat(usage.Identities.Keys).Distinct(StringComparer.Ordinal))
        {
            if (SpiffeId.TryParse(text, out var id, out _) && id.Path.Length > 0 && !text.EndsWith("/*", StringComparison.Ordinal))
            {
                subjects[text] = PolicyInventory.PathsOf(config, id);
            }
        }
        foreach (var group in PolicyInventory.Paths(config).Where(p => p.Identity.EndsWith("/*", StringComparison.Ordinal)).GroupBy(p => p.Identity, StringComparer.Ordinal))
        {
            subjects[group.Key] = [.. group];
        }
        var findings = new List<Finding>();
        foreach (var (identity, paths) in subjects)
        {
            var open = paths.Where(p => !p.IsDeny && p.Credential is not null
                && !paths.Any(d => d.IsDeny && d.Route == p.Route && d.Methods is null && d.Paths is null && d.Schedule is null)).ToList();
            var byHost = new SortedDictionary<string, SortedSet<string>>(StringComparer.Ordinal);
            var routesByHost = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
            foreach (var path in open)
            {
                foreach (var host in HostsOf(config, path.Route))
                {
                    (byHost.TryGetValue(host, out var set) ? set : byHost[host] = new SortedSet<string>(StringComparer.OrdinalIgnoreCase)).Add(path.Credential!);
                    (routesByHost.TryGetValue(host, out var routes) ? routes : routesByHost[host] = new SortedSet<string>(StringComparer.OrdinalIgnoreCase)).Add(path.Route);
                }
            }
            foreach (var (host, credentials) in byHost.Where(h => h.Value.Count > 1))
            {
                var used = credentials.Where(c => usage.Credentials.ContainsKey((identity, c))).ToList();
                var owners = config.OwnerOfIdentity(identity);
                findings.Add(new Finding(ParallelAccessPath, identity + " -> " + host,
                    $"{identity} reaches {host} through {credentials.Count} credentials ({string.Join(", ", credentials)}) on routes {string.Join(", ", routesByHost[host])}"
                    + (used.Count > 1 ? $"; it used {string.Join(" and ", used)}" : ""))
                { Identity = identity, Host = host, Owner = owners.Owner, Team = owners.Team, Related = [.. credentials] });
            }
        }
        return findings;
    }

    /// <summary>One secret value reachable through two or more credentials (or stores), compared by keyed fingerprint.</summary>
    public static List<Finding> Duplicates(ProxyConfig config, UsageSnapshot usage)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(usage);
        var findings = new List<Finding>();
        foreach (var group in DuplicateGroups(config, usage))
        {
            var bindings = group.Select(name => config.Credentials[name]).ToList();
            var stores = bindings.Select(b => b.Store).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToList();
            var first = bindings[0];
            findings.Add(new Finding(DuplicatedSecret, string.Join(" = ", group),
                $"the same secret value is reachable through {group.Count} credentials ({string.Join(", ", group)})" + (stores.Count > 1 ? $" in {stores.Count} stores ({string.Join(", ", stores)})" : $" in store {stores[0]}")
                + "; compared by keyed fingerprint, never the value")
            { Credential = first.Name, Store = string.Join(", ", stores), Owner = first.Owner, Team = first.Team, Related = group });
        }
        return findings;
    }

    /// <summary>The credentials of the config whose last seen values have equal fingerprints (under one key), each group sorted.</summary>
    public static List<List<string>> DuplicateGroups(ProxyConfig config, UsageSnapshot usage)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(usage);
        return [.. usage.Secrets
            .Where(s => s.Value.Fingerprint is not null && config.Credentials.ContainsKey(s.Key))
            .GroupBy(s => (s.Value.KeyId, s.Value.Fingerprint))
            .Where(g => g.Count() > 1)
            .Select(g => g.Select(s => config.Credentials[s.Key].Name).Order(StringComparer.Ordinal).ToList())
            .OrderBy(g => g[0], StringComparer.Ordinal)];
    }

    private static void ClassRefusals(ProxyConfig config, List<Finding> findings)
    {
        foreach (var path in PolicyInventory.Paths(config).Where(p => !p.IsDeny && p.Credential is not null))
        {
            if (config.Credentials.TryGetValue(path.Credential!, out var binding) && binding.Class is { Allow.Count: > 0 } secretClass
                && SpiffeId.TryParse(path.Identity, out var id, out _) && !path.Identity.EndsWith("/*", StringComparison.Ordinal) && !secretClass.Permits(id))
            {
                findings.Add(new Finding(ClassRefusesRule, path.Identity + " -> " + path.Route,
                    $"rule '{path.Rule}' allows {path.Identity} on route '{path.Route}', but its credential '{binding.Name}' is of class '{secretClass.Name}', which does not allow that identity: its calls get 403 credential_class_not_allowed")
                { Identity = path.Identity, Route = path.Route, Rule = path.Rule, Credential = binding.Name, Owner = binding.Owner, Team = binding.Team });
            }
        }
    }

    public static JsonObject Json(IReadOnlyList<Finding> findings, UsageSnapshot usage, DateTimeOffset now, int unusedDays)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(usage);
        var counts = new JsonObject();
        foreach (var group in findings.GroupBy(f => f.Kind, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            counts[group.Key] = group.Count();
        }
        var items = new JsonArray();
        foreach (var f in findings)
        {
            items.Add(new JsonObject
            {
                ["kind"] = f.Kind,
                ["subject"] = f.Subject,
                ["detail"] = f.Detail,
                ["identity"] = f.Identity,
                ["credential"] = f.Credential,
                ["route"] = f.Route,
                ["rule"] = f.Rule,
                ["store"] = f.Store,
                ["host"] = f.Host,
                ["owner"] = f.Owner,
                ["team"] = f.Team,
                ["lastUse"] = f.LastUse,
                ["ageDays"] = f.AgeDays,
                ["related"] = new JsonArray([.. f.Related.Select(r => (JsonNode)r)]),
            });
        }
        return new JsonObject
        {
            ["generatedAt"] = now,
            ["unusedDays"] = unusedDays,
            ["usage"] = new JsonObject { ["source"] = usage.Source, ["since"] = usage.Since, ["note"] = usage.Note },
            ["counts"] = counts,
            ["findings"] = items,
        };
    }

    public static string Table(IReadOnlyList<Finding> findings, UsageSnapshot usage)
    {
        ArgumentNullException.ThrowIfNull(findings);
        ArgumentNullException.ThrowIfNull(usage);
        string[] header = ["KIND", "SUBJECT", "OWNER", "DETAIL"];
        var cells = findings.Select(f => new[] { f.Kind, f.Subject, f.Owner ?? f.Team ?? "-", f.Detail }).ToList();
        var widths = header.Select((h, i) => cells.Select(c => c[i].Length).Append(h.Length).Max()).ToArray();
        var text = new StringBuilder();
        text.AppendLine("# " + usage.Note);
        void Line(string[] values) => text.AppendLine(string.Join("  ", values.Select((v, i) => i == values.Length - 1 ? v : v.PadRight(widths[i]))).TrimEnd());
        Line(header);
        foreach (var row in cells)
        {
            Line(row);
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"{findings.Count} finding(s)");
        return text.ToString();
    }

    public static string Csv(IReadOnlyList<Finding> findings)
    {
        ArgumentNullException.ThrowIfNull(findings);
        var text = new StringBuilder();
        text.Append("kind,subject,identity,credential,route,rule,store,host,owner,team,lastUse,ageDays,related,detail\r\n");
        foreach (var f in findings)
        {
            string?[] row = [f.Kind, f.Subject, f.Identity, f.Credential, f.Route, f.Rule, f.Store, f.Host, f.Owner, f.Team,
                f.LastUse?.ToString("O", CultureInfo.InvariantCulture), f.AgeDays?.ToString(CultureInfo.InvariantCulture), string.Join(';', f.Related), f.Detail];
            text.Append(string.Join(',', row.Select(Quote))).Append("\r\n");
        }
        return text.ToString();
    }

    /// <summary>RFC 4180 quoting; a cell that starts like a formula is prefixed with a quote so spreadsheets show it as text.</summary>
    private static string Quote(string? value)
    {
        value ??= "";
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@')
        {
            value = "'" + value;
        }
        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
