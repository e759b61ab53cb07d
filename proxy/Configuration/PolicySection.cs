using System.Collections.Frozen;
using System.Globalization;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>Compiles <c>policies</c> (with the names <c>identities</c> gives) into a <see cref="PolicyModel"/>.</summary>
internal static class PolicySection
{
    private static readonly string[] RuleKeys = ["name", "allow", "deny", "routes", "methods", "paths", "schedule", "requireGrant", "approvers", "attestedBy", "when", "databases", "roles", "mcp", "description"];
    private static readonly string[] ScheduleKeys = ["days", "from", "to", "timeZone"];
    private static readonly FrozenSet<string> KnownMethods = new[] { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public static PolicyModel Compile(ConfigDocument document, ConfigErrorList errors, IReadOnlyDictionary<string, SpiffeIdPattern> identities, IReadOnlyList<RouteConfig> routes,
        IEnumerable<string>? databases = null)
    {
        var rules = new List<PolicyRule>();
        var section = document.Root.GetSection("policies");
        if (section.Exists() && section.Value is not null || section.GetChildren().Any() && !document.IsSequence("policies"))
        {
            errors.Add("policies", "must be a list of rules", "write each rule as a list item starting with '- name: ...'");
            return new PolicyModel(rules);
        }
        var routeIds = routes.Select(r => r.RouteId).ToList();
        var databaseNames = databases?.ToList() ?? [];
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var index = 0;
        var byName = new Dictionary<string, (IConfigurationSection Section, List<string> Routes)>(StringComparer.OrdinalIgnoreCase);
        var pending = new List<(IConfigurationSection Section, string Name, bool IsDeny, List<SpiffeIdPattern> Identities, List<string> Routes, FrozenSet<string>? Methods, List<PathPattern>? Paths, Schedule? Schedule, bool RequireGrant, FrozenSet<AttestationKind>? AttestedBy, List<FactCondition>? When, RuleConditions? Conditions, ApproverList? Approvers, McpRule? Mcp)>();
        foreach (var item in section.GetChildren())
        {
            ConfigSections.CheckKnownKeys(item, RuleKeys, errors, "a policy rule");
            var name = ConfigSections.Value(item, "name") ?? $"policies[{item.Key}]";
            if (ConfigSections.Value(item, "name") is null)
            {
                errors.Add(item.Path + ":name", "is required", "name the rule, e.g. name: payments-reads-github (decisions and 403 bodies report it)");
            }
            else if (!names.Add(name))
            {
                errors.Add(item.Path + ":name", $"rule name '{name}' is used twice", "give every rule its own name");
            }

            var allow = item.GetSection("allow");
            var deny = item.GetSection("deny");
            if (allow.Exists() == deny.Exists())
            {
                errors.Add(item.Path, allow.Exists() ? "has both 'allow' and 'deny'" : "has neither 'allow' nor 'deny'",
                    "write allow: [identities...] for an allow rule or deny: [identities...] for a deny rule (split into two rules if you need both)", showValue: false);
            }
            var isDeny = deny.Exists();
            var who = ReadIdentities(document, isDeny ? deny : allow, identities, errors);

            var ruleRoutes = new List<string>();
            var routesSection = item.GetSection("routes");
            var databasesSection = item.GetSection("databases");
            foreach (var entry in ConfigSections.Items(databasesSection))
            {
                var database = entry.Value?.Trim();
                if (database == "*")
                {
                    ruleRoutes.AddRange(databaseNames.Select(Databases.DatabaseSettings.RouteOf));
                }
                else if (database is null || !databaseNames.Contains(database, StringComparer.Ordinal))
                {
                    errors.Add(entry.Path, $"names database '{database}', which is not defined under databases", KeySuggestion.Fix(database ?? "", databaseNames, "databases"));
                }
                else
                {
                    ruleRoutes.Add(Databases.DatabaseSettings.RouteOf(database));
                }
            }
            if (item.GetSection("roles").Exists() && !databasesSection.Exists())
            {
                errors.Add(item.Path + ":roles", "applies to database rules only", "add databases: [...] or remove roles");
            }
            if (databasesSection.Exists() && (item.GetSection("methods").Exists() || item.GetSection("paths").Exists()))
            {
                errors.Add(item.Path, "a database rule decides by role, not by HTTP method or path", "use roles: [...]; write HTTP routes in a rule of their own");
            }
            if (!routesSection.Exists() && databasesSection.Exists())
            {
                // A database rule: no HTTP routes.
            }
            else if (!routesSection.Exists())
            {
                errors.Add(item.Path + ":routes", "is required", $"list the routes this rule covers (or '*' for every route); {KeySuggestion.Fix("", routeIds, "routes")}");
            }
            foreach (var entry in ConfigSections.Items(routesSection))
            {
                var route = entry.Value?.Trim();
                if (route == "*")
                {
                    ruleRoutes.AddRange(routeIds);
                }
                else if (route is null || !routeIds.Contains(route, StringComparer.OrdinalIgnoreCase))
                {
                    errors.Add(entry.Path, $"names route '{route}', which is not defined under ReverseProxy.Routes", KeySuggestion.Fix(route ?? "", routeIds, "routes"));
                }
                else
                {
                    ruleRoutes.Add(routeIds.First(r => string.Equals(r, route, StringComparison.OrdinalIgnoreCase)));
                }
            }

            FrozenSet<string>? methods = null;
            if (item.GetSection("roles").Exists())
            {
                // The operation of a database request is the role the caller logs in as.
                methods = ConfigSections.Items(item.GetSection("roles")).Select(e => e.Value?.Trim() ?? "").Where(v => v.Length > 0).ToFrozenSet(StringComparer.Ordinal);
            }
            else if (item.GetSection("methods").Exists())
            {
                var list = new List<string>();
                foreach (var entry in ConfigSections.Items(item.GetSection("methods")))
                {
                    var method = entry.Value?.Trim().ToUpperInvariant();
                    if (method is null || !KnownMethods.Contains(method))
                    {
                        errors.Add(entry.Path, $"'{entry.Value}' is not an HTTP method", "use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE or CONNECT");
                    }
                    else
                    {
                        list.Add(method);
                    }
                }
                methods = list.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
            }

            List<PathPattern>? paths = null;
            if (item.GetSection("paths").Exists())
            {
                paths = [];
                foreach (var entry in ConfigSections.Items(item.GetSection("paths")))
                {
                    if (!PathPattern.TryParse(entry.Value ?? "", out var pattern, out var error))
                    {
                        errors.Add(entry.Path, $"is not a path pattern: {error}", "write e.g. /github/repos/** ('*' = one segment, '/**' = any depth)");
                    }
                    else
                    {
                        paths.Add(pattern!);
                    }
                }
            }

            var schedule = item.GetSection("schedule").Exists() ? ReadSchedule(item.GetSection("schedule"), errors) : null;
            var requireGrant = false;
            if (ConfigSections.Value(item, "requireGrant") is { } grantText && !bool.TryParse(grantText, out requireGrant))
            {
                errors.Add(item.Path + ":requireGrant", "must be true or false", "write requireGrant: true to allow only callers holding a live grant (POST /grants on the admin listener)");
            }
            if (requireGrant && isDeny)
            {
                errors.Add(item.Path + ":requireGrant", "applies to allow rules only", "remove requireGrant from this deny rule (a deny rule always applies)");
                requireGrant = false;
            }
            FrozenSet<AttestationKind>? attestedBy = null;
            if (item.GetSection("attestedBy").Exists())
            {
                var kinds = new List<AttestationKind>();
                foreach (var entry in ConfigSections.Items(item.GetSection("attestedBy")))
                {
                    if (AttestationKinds.TryParse(entry.Value?.Trim(), out var kind))
                    {
                        kinds.Add(kind);
                    }
                    else
                    {
                        errors.Add(entry.Path, $"'{entry.Value}' is not an attestation kind", $"use {string.Join(", ", AttestationKinds.Names)} (how the caller proved its identity)");
                    }
                }
                attestedBy = kinds.ToFrozenSet();
            }
            var when = ReadWhen(item.GetSection("when"), errors, ref attestedBy, document, ref methods, ref paths, out var conditions);
            ApproverList? approvers = null;
            if (item.GetSection("approvers").Exists())
            {
                approvers = ReadApprovers(item.GetSection("approvers"), errors);
                if (!requireGrant)
                {
                    errors.Add(item.Path + ":approvers", "applies to rules with requireGrant: true", "add requireGrant: true (approvers approve grant requests for the rule), or remove approvers");
                }
            }
            // document.Writes: an empty map or list (mcp: {}, methods: []) is a choice the configuration view drops.
            var mcp = item.GetSection("mcp").Exists() || document.Writes(item.Path + ":mcp") ? ReadMcp(item.GetSection("mcp"), errors, document) : null;
            if (mcp is not null && databasesSection.Exists())
            {
                errors.Add(item.Path + ":mcp", "applies to MCP routes, not to databases", "write the MCP rule on its own, with routes: [...] naming MCP routes");
            }
            pending.Add((item, name, isDeny, who, ruleRoutes, methods, paths, schedule, requireGrant, attestedBy, when, conditions, approvers, mcp));
            byName[name] = (item, ruleRoutes);
        }

        // Route metadata 'Policy' attaches rules to a route from the route's side.
        foreach (var route in routes)
        {
            if (route.Metadata?.GetValueOrDefault(ReverseProxySection.PolicyMetadataKey) is not { Length: > 0 } list)
            {
                continue;
            }
            foreach (var ruleName in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (byName.TryGetValue(ruleName, out var rule))
                {
                    if (!rule.Routes.Contains(route.RouteId, StringComparer.OrdinalIgnoreCase))
                    {
                        rule.Routes.Add(route.RouteId);
                    }
                }
                else
                {
                    errors.Add($"ReverseProxy:Routes:{route.RouteId}:Metadata:{ReverseProxySection.PolicyMetadataKey}", $"names policy rule '{ruleName}', which is not defined under policies",
                        KeySuggestion.Fix(ruleName, byName.Keys, "rules"));
                }
            }
        }

        var mcpRoutes = routes.Where(McpRouteSettings.IsMcp).Select(r => r.RouteId).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var (item, name, isDeny, who, ruleRoutes, methods, paths, schedule, requireGrant, attestedBy, when, conditions, approvers, mcp) in pending)
        {
            if (mcp is not null && ruleRoutes.Count > 0 && !ruleRoutes.Any(mcpRoutes.Contains))
            {
                errors.Add(item.Path + ":mcp", "names none of the rule's routes as an MCP route", "add Metadata: { Protocol: mcp } to the route(s) this rule names, or remove the mcp block");
            }
            if (mcp?.UserPatterns is not null && !routes.Any(r => ruleRoutes.Contains(r.RouteId, StringComparer.OrdinalIgnoreCase) && r.Metadata?.ContainsKey(McpRouteSettings.UserHeaderKey) == true))
            {
                errors.Add(item.Path + ":mcp:users", "names users, but none of the rule's routes takes a user token", "add McpUserHeader, McpUserIssuer and McpUserJwksUrl to the route's Metadata");
            }
            rules.Add(new PolicyRule(name, index++, isDeny, who, ruleRoutes, methods, paths, schedule, requireGrant, attestedBy, when, conditions, approvers, mcp));
        }
        foreach (var route in mcpRoutes)
        {
            if (!rules.Any(r => !r.IsDeny && r.Mcp is not null && r.Routes.Contains(route, StringComparer.OrdinalIgnoreCase)))
            {
                errors.Warn($"ReverseProxy:Routes:{route}", $"no allow rule with an mcp block names MCP route '{route}', so every MCP message on it is refused",
                    "add mcp: { tools: [...] } to a policy rule naming route " + route);
            }
        }
        var model = new PolicyModel(rules);
        foreach (var database in databaseNames)
        {
            if (!rules.Any(r => r.Routes.Contains(Databases.DatabaseSettings.RouteOf(database), StringComparer.OrdinalIgnoreCase)))
            {
                errors.Warn($"databases:{database}", $"no policy rule names database '{database}', so every login to it is denied", "add a policy rule with databases: [" + database + "] if workloads should use it");
            }
        }
        foreach (var route in routeIds)
        {
            // A route only deny rules name is denied on purpose (e.g. a fence around an admin API): no warning.
            if (!rules.Any(r => r.Routes.Contains(route, StringComparer.OrdinalIgnoreCase)))
            {
                errors.Warn($"ReverseProxy:Routes:{route}", $"no policy rule names route '{route}', so every call to it is denied", "add a policy rule with routes: [" + route + "] if workloads should use it");
            }
        }
        return model;
    }

    /// <summary>
    /// <c>mcp: { methods: [...], tools: [...], resources: [...], prompts: [...], arguments: { "/pointer": { values, pattern, regex, min, max, maxLength, optional } } }</c>.
    /// </summary>
    private static McpRule? ReadMcp(IConfigurationSection section, ConfigErrorList errors, ConfigDocument document)
    {
        if (section.Value is not null)
        {
            errors.Add(section.Path, "must be a map", "write mcp: { tools: [search_repos], arguments: { \"/repo\": { pattern: \"acme/*\" } } }");
            return null;
        }
        ConfigSections.CheckKnownKeys(section, ["users", "methods", "tools", "resources", "prompts", "arguments"], errors, "an mcp block");
        List<string>? Names(string key, string example)
        {
            var child = section.GetSection(key);
            if (!child.Exists() && !document.Writes(child.Path))
            {
                return null;
            }
            var list = new List<string>();
            foreach (var entry in ConfigSections.Items(child))
            {
                var text = entry.Value?.Trim();
                if (string.IsNullOrEmpty(text))
                {
                    errors.Add(entry.Path, "is empty", "write a name or a glob, e.g. " + example);
                }
                else
                {
                    list.Add(text);
                }
            }
            return list;
        }
        var users = Names("users", "alice@example.com or \"*@example.com\" (the user token's sub)");
        var methods = Names("methods", "initialize, ping, \"notifications/*\", completion/complete");
        var tools = Names("tools", "search_repos or \"get_*\"");
        var resources = Names("resources", "\"file:///docs/**\"");
        var prompts = Names("prompts", "summarize");
        List<ArgumentRule>? arguments = null;
        var argumentsSection = section.GetSection("arguments");
        if (argumentsSection.Exists())
        {
            arguments = [];
            if (argumentsSection.Value is not null || document.IsSequence(argumentsSection.Path))
            {
                errors.Add(argumentsSection.Path, "must be a map of JSON pointer → rule", "write arguments: { \"/repo\": { pattern: \"acme/*\" }, \"/limit\": { max: 100 } }");
            }
            else
            {
                foreach (var child in argumentsSection.GetChildren())
                {
                    if (ReadArgumentRule(child, errors) is { } rule)
                    {
                        arguments.Add(rule);
                    }
                }
            }
            if (tools is null && prompts is null)
            {
                errors.Add(argumentsSection.Path, "applies to tool calls and prompt gets, and the block names neither tools nor prompts", "add tools: [...] (or prompts: [...]) beside arguments");
            }
        }
        return new McpRule(methods, tools, resources, prompts, arguments, users);
    }

    private static ArgumentRule? ReadArgumentRule(IConfigurationSection section, ConfigErrorList errors)
    {
        var pointer = section.Key;
        if (!ArgumentRule.TryParsePointer(pointer, out _, out var pointerError) || pointer.Length == 0)
        {
            errors.Add(section.Path, $"'{pointer}' is not a JSON pointer: {pointerError ?? "it is empty"}", "write the argument's JSON pointer, e.g. \"/repo\" or \"/options/limit\"");
            return null;
        }
        if (section.Value is not null)
        {
            errors.Add(section.Path, "must be a map", "write e.g. { pattern: \"acme/*\" }, { values: [a, b] }, { max: 100 } or { maxLength: 200 }");
            return null;
        }
        ConfigSections.CheckKnownKeys(section, ["values", "pattern", "regex", "min", "max", "maxLength", "optional"], errors, "an argument rule");
        List<string>? values = null;
        if (section.GetSection("values").Exists())
        {
            values = [.. ConfigSections.Items(section.GetSection("values")).Select(e => e.Value ?? "")];
        }
        double? Number(string key)
        {
            if (ConfigSections.Value(section, key) is not { } text)
            {
                return null;
            }
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && double.IsFinite(n))
            {
                return n;
            }
            errors.Add(section.Path + ":" + key, $"'{text}' is not a number", $"e.g. {key}: 100");
            return null;
        }
        var min = Number("min");
        var max = Number("max");
        if (min > max)
        {
            errors.Add(section.Path + ":max", "is below min", "set max at or above min");
        }
        int? maxLength = null;
        if (ConfigSections.Value(section, "maxLength") is { } lengthText)
        {
            if (int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
            {
                maxLength = length;
            }
            else
            {
                errors.Add(section.Path + ":maxLength", $"'{lengthText}' is not a whole number", "e.g. maxLength: 200");
            }
        }
        var optional = false;
        if (ConfigSections.Value(section, "optional") is { } optionalText && !bool.TryParse(optionalText, out optional))
        {
            errors.Add(section.Path + ":optional", "must be true or false", "write optional: true when a call may leave the argument out");
        }
        var pattern = ConfigSections.Value(section, "pattern");
        var regex = ConfigSections.Value(section, "regex");
        if (regex is not null)
        {
            try
            {
                _ = new System.Text.RegularExpressions.Regex(regex, System.Text.RegularExpressions.RegexOptions.NonBacktracking);
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
            {
                errors.Add(section.Path + ":regex", $"is not a regular expression the proxy can run without backtracking: {ex.Message}", "write a plain regular expression (no backreferences or lookarounds); it must match the whole value");
                regex = null;
            }
        }
        if (values is null && pattern is null && regex is null && min is null && max is null && maxLength is null)
        {
            errors.Add(section.Path, "constrains nothing", "give values, pattern, regex, min, max or maxLength");
            return null;
        }
        return new ArgumentRule(pointer, values, pattern, regex, min, max, maxLength, optional);
    }

    /// <summary>
    /// <c>when: { attestation: unix-peer, uid: 1001, path: [...], facts: {...}, request: {...}, time: {...} }</c>: the
    /// attestation kind(s) and facts, context facts, request facts and time windows that must hold.
    /// </summary>
    private static List<FactCondition>? ReadWhen(IConfigurationSection section, ConfigErrorList errors, ref FrozenSet<AttestationKind>? attestedBy, ConfigDocument document,
        ref FrozenSet<string>? methods, ref List<PathPattern>? paths, out RuleConditions? conditions)
    {
        conditions = null;
        if (!section.Exists())
        {
            return null;
        }
        if (section.Value is not null)
        {
            errors.Add(section.Path, "must be a map of facts", "write when: { attestation: unix-peer, uid: 1001 }");
            return null;
        }
        var result = new List<FactCondition>();
        List<FactCondition>? contextFacts = null;
        FrozenSet<string>? listeners = null;
        List<System.Net.IPNetwork>? sources = null;
        List<Schedule>? times = null;
        foreach (var child in section.GetChildren())
        {
            if (child.Key.Equals("facts", StringComparison.OrdinalIgnoreCase))
            {
                contextFacts = ReadContextFacts(child, errors, document);
                continue;
            }
            if (child.Key.Equals("request", StringComparison.OrdinalIgnoreCase))
            {
                ReadRequestFacts(child, errors, document, ref methods, ref paths, out listeners, out sources);
                continue;
            }
            if (child.Key.Equals("time", StringComparison.OrdinalIgnoreCase))
            {
                times = [];
                var windows = child.Value is null && document.IsSequence(child.Path) ? child.GetChildren().ToList() : [child];
                foreach (var window in windows)
                {
                    if (window.Value is not null)
                    {
                        errors.Add(window.Path, "must be a time window", "write time: { days: weekdays, from: \"08:00\", to: \"18:00\", timeZone: Europe/Berlin } (or a list of them)");
                    }
                    else if (ReadSchedule(window, errors) is { } schedule)
                    {
                        times.Add(schedule);
                    }
                }
                continue;
            }
            if (FactValues(child, errors) is not { } values)
            {
                continue;
            }
            if (child.Key.Equals("attestation", StringComparison.OrdinalIgnoreCase))
            {
                if (attestedBy is not null)
                {
                    errors.Add(child.Path, "and attestedBy are both given", "keep one of them");
                    continue;
                }
                var kinds = new List<AttestationKind>();
                foreach (var value in values)
                {
                    if (AttestationKinds.TryParse(value, out var kind))
                    {
                        kinds.Add(kind);
                    }
                    else
                    {
                        errors.Add(child.Path, $"'{value}' is not an attestation kind", $"use {string.Join(", ", AttestationKinds.Names)}");
                    }
                }
                attestedBy = kinds.ToFrozenSet();
                continue;
            }
            var fact = FactCondition.Known.FirstOrDefault(k => k.Equals(child.Key, StringComparison.OrdinalIgnoreCase))
                ?? (child.Key.StartsWith(FactCondition.ClaimPrefix, StringComparison.Ordinal) && child.Key.Length > FactCondition.ClaimPrefix.Length ? child.Key : null);
            if (fact is null)
            {
                errors.Add(child.Path, $"'{child.Key}' is not a fact attestors report", KeySuggestion.Fix(child.Key, ["attestation", "facts", "request", "time", .. FactCondition.Known], "keys of when"));
                continue;
            }
            result.Add(new FactCondition(fact, fact == "sha256" ? values.Select(v => v.ToLowerInvariant()) : values));
        }
        if (contextFacts is not null || listeners is not null || sources is not null || times is not null)
        {
            conditions = new RuleConditions(contextFacts, listeners, sources, times);
        }
        return result;
    }

    /// <summary>A fact's value or list of values (trimmed, empty ones dropped); null, with an error, when none is left.</summary>
    private static List<string>? FactValues(IConfigurationSection child, ConfigErrorList errors)
    {
        var values = ConfigSections.Items(child).Select(e => e.Value?.Trim() ?? "").Where(v => v.Length > 0).ToList();
        if (values.Count == 0)
        {
            errors.Add(child.Path, "is empty", "give a value or a list of values");
            return null;
        }
        return values;
    }

    /// <summary><c>when.facts: { posture: compliant, env: [prod, staging] }</c>: context facts from the posture source.</summary>
    private static List<FactCondition> ReadContextFacts(IConfigurationSection section, ConfigErrorList errors, ConfigDocument document)
    {
        var result = new List<FactCondition>();
        if (section.Value is not null || !section.GetChildren().Any())
        {
            errors.Add(section.Path, "must be a map of fact → value(s)", "write facts: { posture: compliant, env: [prod, staging] }");
            return result;
        }
        if (!document.Root.GetSection("posture").Exists())
        {
            errors.Add(section.Path, "names context facts, but no posture source is configured", "add a top-level posture: { file: posture.json } or posture: { url: https://... }");
        }
        foreach (var child in section.GetChildren())
        {
            if (FactValues(child, errors) is not { } values)
            {
                continue;
            }
            result.Add(new FactCondition(child.Key, values));
        }
        return result;
    }

    /// <summary><c>when.request: { listener, sourceAddress, method, path }</c>.</summary>
    private static void ReadRequestFacts(IConfigurationSection section, ConfigErrorList errors, ConfigDocument document, ref FrozenSet<string>? methods, ref List<PathPattern>? paths,
        out FrozenSet<string>? listeners, out List<System.Net.IPNetwork>? sources)
    {
        listeners = null;
        sources = null;
        if (section.Value is not null)
        {
            errors.Add(section.Path, "must be a map", "write request: { listener: mtls, sourceAddress: [10.0.0.0/8], method: [GET], path: [\"/api/**\"] }");
            return;
        }
        ConfigSections.CheckKnownKeys(section, ["listener", "sourceAddress", "method", "path"], errors, "when.request");
        var listenerNames = document.Root.GetSection("listeners").GetChildren().Select(l => ConfigSections.Value(l, "name")).OfType<string>().ToList();
        if (section.GetSection("listener").Exists())
        {
            var names = new List<string>();
            foreach (var entry in ConfigSections.Items(section.GetSection("listener")))
            {
                var name = entry.Value?.Trim() ?? "";
                if (!listenerNames.Contains(name, StringComparer.OrdinalIgnoreCase))
                {
                    errors.Add(entry.Path, $"names listener '{name}', which is not defined under listeners", KeySuggestion.Fix(name, listenerNames, "listeners"));
                }
                else
                {
                    names.Add(name);
                }
            }
            listeners = names.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
        }
        if (section.GetSection("sourceAddress").Exists())
        {
            sources = [];
            foreach (var entry in ConfigSections.Items(section.GetSection("sourceAddress")))
            {
                var text = entry.Value?.Trim() ?? "";
                if (System.Net.IPNetwork.TryParse(text, out var network))
                {
                    sources.Add(network);
                }
                else if (System.Net.IPAddress.TryParse(text, out var address))
                {
                    sources.Add(new System.Net.IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
                }
                else
                {
                    errors.Add(entry.Path, $"'{text}' is not an address or network", "write an address (10.1.2.3, ::1) or a CIDR network with its base address (10.0.0.0/8, fd00::/8)");
                }
            }
        }
        if (section.GetSection("method").Exists())
        {
            if (methods is not null)
            {
                errors.Add(section.Path + ":method", "and the rule's methods are both given", "keep one of them");
            }
            else
            {
                var list = new List<string>();
                foreach (var entry in ConfigSections.Items(section.GetSection("method")))
                {
                    var method = entry.Value?.Trim().ToUpperInvariant();
                    if (method is null || !KnownMethods.Contains(method))
                    {
                        errors.Add(entry.Path, $"'{entry.Value}' is not an HTTP method", "use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE or CONNECT");
                    }
                    else
                    {
                        list.Add(method);
                    }
                }
                methods = list.ToFrozenSet(StringComparer.OrdinalIgnoreCase);
            }
        }
        if (section.GetSection("path").Exists())
        {
            if (paths is not null)
            {
                errors.Add(section.Path + ":path", "and the rule's paths are both given", "keep one of them");
                return;
            }
            paths = [];
            foreach (var entry in ConfigSections.Items(section.GetSection("path")))
            {
                if (!PathPattern.TryParse(entry.Value ?? "", out var pattern, out var error))
                {
                    errors.Add(entry.Path, $"is not a path pattern: {error}", "write e.g. /github/repos/** ('*' = one segment, '/**' = any depth)");
                }
                else
                {
                    paths.Add(pattern!);
                }
            }
        }
    }

    /// <summary>
    /// <c>approvers: ["spiffe://td/ns/sre/*", { uid: 0 }, { group: sre }, { name: alice@example.org }]</c>: admin SVIDs
    /// by pattern, admin socket uids, and OIDC approvers by group or name (the claims <c>approvals.oidc</c> names).
    /// </summary>
    private static ApproverList ReadApprovers(IConfigurationSection section, ConfigErrorList errors)
    {
        var identities = new List<SpiffeIdPattern>();
        var uids = new List<uint>();
        var groups = new List<string>();
        var names = new List<string>();
        const string Fix = "write a SPIFFE ID pattern (an admin SVID), { uid: N } (the admin socket), { group: NAME } or { name: NAME } (an OIDC approver's groups or name claim)";
        foreach (var entry in ConfigSections.Items(section))
        {
            if (entry.Value is { } text)
            {
                if (SpiffeIdPattern.TryParse(text.Trim(), out var pattern, out var error))
                {
                    identities.Add(pattern);
                }
                else
                {
                    errors.Add(entry.Path, $"is not a SPIFFE ID pattern: {error}", Fix);
                }
                continue;
            }
            var keys = entry.GetChildren().Select(c => c.Key).ToList();
            if (keys.Count != 1 || keys[0] is not ("uid" or "group" or "name"))
            {
                errors.Add(entry.Path, "must be a SPIFFE ID pattern or one of { uid: N }, { group: NAME }, { name: NAME }", Fix, showValue: false);
                continue;
            }
            var value = ConfigSections.Value(entry, keys[0])?.Trim() ?? "";
            switch (keys[0])
            {
                case "uid" when uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var uid):
                    uids.Add(uid);
                    break;
                case "uid":
                    errors.Add(entry.Path + ":uid", $"'{value}' is not a uid", "write the admin's numeric uid, e.g. { uid: 0 }");
                    break;
                case "group" or "name" when value.Length == 0:
                    errors.Add(entry.Path + ":" + keys[0], "is empty", Fix);
                    break;
                case "group":
                    groups.Add(value);
                    break;
                default:
                    names.Add(value);
                    break;
            }
        }
        if (identities.Count + uids.Count + groups.Count + names.Count == 0)
        {
            errors.Add(section.Path, "lists nobody", Fix, showValue: false);
        }
        return new ApproverList(identities, uids, groups, names);
    }

    internal static List<SpiffeIdPattern> ReadIdentities(ConfigDocument document, IConfigurationSection section, IReadOnlyDictionary<string, SpiffeIdPattern> identities, ConfigErrorList errors)
    {
        var result = new List<SpiffeIdPattern>();
        foreach (var entry in ConfigSections.Items(section))
        {
            var text = entry.Value?.Trim();
            if (string.IsNullOrEmpty(text))
            {
                errors.Add(entry.Path, "is empty", "name an identity from 'identities' or write a SPIFFE ID pattern");
            }
            else if (text.StartsWith("spiffe:", StringComparison.OrdinalIgnoreCase))
            {
                if (SpiffeIdPattern.TryParse(text, out var pattern, out var error))
                {
                    result.Add(pattern);
                }
                else
                {
                    errors.Add(entry.Path, $"is not a valid SPIFFE ID pattern: {error}", "write spiffe://trust-domain/path, or spiffe://trust-domain/path/* for a subtree");
                }
            }
            else if (identities.TryGetValue(text, out var named))
            {
                result.Add(named);
            }
            else if (document.Root.GetSection("identities:" + text).Exists())
            {
                // Declared under 'identities' but invalid: that error is already reported there.
            }
            else
            {
                errors.Add(entry.Path, $"'{text}' is not a defined identity", KeySuggestion.Fix(text, identities.Keys, "identities") + "; or write a spiffe:// pattern inline");
            }
        }
        if (section.Exists() && result.Count == 0 && !section.GetChildren().Any() && section.Value is null)
        {
            errors.Add(section.Path, "lists no identity", "list at least one identity name or SPIFFE ID pattern");
        }
        return result;
    }

    private static Schedule? ReadSchedule(IConfigurationSection section, ConfigErrorList errors)
    {
        ConfigSections.CheckKnownKeys(section, ScheduleKeys, errors, "a schedule");
        var days = new HashSet<DayOfWeek>();
        var daysSection = section.GetSection("days");
        if (!daysSection.Exists())
        {
            days.UnionWith(Enum.GetValues<DayOfWeek>());
        }
        foreach (var entry in ConfigSections.Items(daysSection))
        {
            var text = entry.Value?.Trim() ?? "";
            if (text.Equals("weekdays", StringComparison.OrdinalIgnoreCase))
            {
                days.UnionWith([DayOfWeek.Monday, DayOfWeek.Tuesday, DayOfWeek.Wednesday, DayOfWeek.Thursday, DayOfWeek.Friday]);
            }
            else if (text.Equals("weekend", StringComparison.OrdinalIgnoreCase))
            {
                days.UnionWith([DayOfWeek.Saturday, DayOfWeek.Sunday]);
            }
            else if (Enum.GetValues<DayOfWeek>().FirstOrDefault(d => text.Length >= 3 && d.ToString().StartsWith(text, StringComparison.OrdinalIgnoreCase)) is var day
                && text.Length >= 3 && day.ToString().StartsWith(text, StringComparison.OrdinalIgnoreCase))
            {
                days.Add(day);
            }
            else
            {
                errors.Add(entry.Path, $"'{text}' is not a day", "use mon, tue, wed, thu, fri, sat, sun, weekdays or weekend");
            }
        }
        var from = ReadTime(section, "from", TimeOnly.MinValue, errors);
        var to = ReadTime(section, "to", TimeOnly.MaxValue, errors);
        var zoneId = ConfigSections.Value(section, "timeZone") ?? "UTC";
        TimeZoneInfo? zone = null;
        try
        {
            zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            errors.Add(section.Path + ":timeZone", $"'{zoneId}' is not a time zone on this host", "use an IANA name such as UTC or Europe/Berlin");
        }
        if (from == to && section.GetSection("from").Exists())
        {
            errors.Add(section.Path + ":to", "equals 'from', so the window is empty", "set 'to' after 'from' (or before it for an overnight window), or drop both for all day");
        }
        return zone is null || from is null || to is null ? null : new Schedule(days, from.Value, to.Value, zone);
    }

    private static TimeOnly? ReadTime(IConfigurationSection section, string key, TimeOnly fallback, ConfigErrorList errors)
    {
        var text = ConfigSections.Value(section, key);
        if (text is null)
        {
            return fallback;
        }
        if (TimeOnly.TryParseExact(text, ["HH:mm", "H:mm", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
        {
            return time;
        }
        errors.Add(section.Path + ":" + key, $"'{text}' is not a time of day", "write it as HH:mm, e.g. 08:00");
        return null;
    }
}
