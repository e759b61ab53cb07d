using System.Globalization;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Configuration;

namespace SecretlessProxy.PolicyChecks;

/// <summary>
/// Reads a case file for <c>test</c> (YAML or JSON, read like the config: <c>file:line: key: problem. Fix: ...</c>,
/// every error at once, unknown keys refused with a did-you-mean). Identities, routes and rules are checked against
/// the config the cases run on, so a case that names a rule the config does not have is an error, not a failure.
/// </summary>
public static class PolicyCaseFile
{
    private static readonly string[] TopKeys = ["at", "cases"];
    private static readonly string[] CaseKeys = ["name", "identity", "method", "path", "host", "route", "at", "grants", "attestedBy", "expect", "rule", "reason"];
    private static readonly string[] Reasons = ["allowed", "no_rule_matched", "denied_by_rule", "grant_required", "context_facts_unknown", "mcp_argument_refused",
        "credential_class_not_allowed", Explanation.NoRoute];

    public static IReadOnlyList<PolicyCase> Load(string path, ProxyConfig config, out IReadOnlyList<ConfigError> errors)
    {
        ArgumentNullException.ThrowIfNull(config);
        var document = ConfigDocument.TryLoad(path, out var parseError);
        if (document is null)
        {
            errors = [parseError!];
            return [];
        }
        var list = new ConfigErrorList(document);
        ConfigSections.CheckKnownKeys(document.Root, TopKeys, list, "a case file");
        var defaultAt = ReadTime(document.Root.GetSection("at"), list) ?? DateTimeOffset.UtcNow;
        var section = document.Root.GetSection("cases");
        var items = section.GetChildren().ToList();
        if (items.Count == 0 || !document.IsSequence("cases"))
        {
            list.Add("cases", "needs a list of cases", "write cases: followed by items such as - { name: reads, identity: payments-api, method: GET, path: /github/repos/x, expect: allow }");
        }
        var cases = new List<PolicyCase>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        var ruleNames = config.Policy.Rules.Select(r => r.Name).ToList();
        foreach (var item in items.Where(_ => document.IsSequence("cases")))
        {
            var before = list.Errors.Count;
            ConfigSections.CheckKnownKeys(item, CaseKeys, list, "a case");
            var name = ConfigSections.Value(item, "name") ?? $"cases[{item.Key}]";
            if (!names.Add(name))
            {
                list.Add(item.Path + ":name", $"another case is named '{name}'", "give each case its own name, so a failure names one case");
            }
            var identity = ConfigSections.Value(item, "identity");
            if (identity is null)
            {
                list.Add(item.Path + ":identity", "is required", "name the caller: a SPIFFE ID (spiffe://example.org/ns/x/sa/y) or a name under the config's identities");
            }
            else if (PolicyExplainer.ResolveIdentity(config, identity, out var identityProblem, out var identityFix) is null)
            {
                list.Add(item.Path + ":identity", identityProblem!, identityFix, showValue: false);
            }
            var method = ConfigSections.Value(item, "method") ?? "GET";
            var requestPath = ConfigSections.Value(item, "path");
            if (requestPath is null && ConfigSections.Value(item, "route") is null)
            {
                list.Add(item.Path + ":path", "is required", "give the request path as the client sends it, e.g. /github/repos/acme/shop (for a database, the database's name)");
            }
            else if (requestPath is not null && !requestPath.StartsWith('/'))
            {
                list.Add(item.Path + ":path", "must start with '/'", "write the path as the client sends it, e.g. /github/repos/acme/shop");
            }
            var expect = ConfigSections.Value(item, "expect");
            if (expect is not ("allow" or "deny"))
            {
                list.Add(item.Path + ":expect", expect is null ? "is required" : $"'{expect}' is not allow or deny", "write expect: allow or expect: deny", showValue: false);
            }
            var rule = ConfigSections.Value(item, "rule");
            if (rule is not null && rule != PolicyCase.NoRule && !ruleNames.Contains(rule, StringComparer.Ordinal))
            {
                list.Add(item.Path + ":rule", $"the config has no rule '{rule}'", KeySuggestion.Fix(rule, ruleNames.Append(PolicyCase.NoRule).Order(StringComparer.Ordinal), "rule names"), showValue: false);
            }
            var reason = ConfigSections.Value(item, "reason");
            if (reason is not null && !Reasons.Contains(reason, StringComparer.Ordinal))
            {
                list.Add(item.Path + ":reason", $"'{reason}' is not a decision reason", KeySuggestion.Fix(reason, Reasons.Order(StringComparer.Ordinal), "reasons"), showValue: false);
            }
            var attestation = Identity.AttestationKind.X509Svid;
            if (ConfigSections.Value(item, "attestedBy") is { } kind && !Identity.AttestationKinds.TryParse(kind, out attestation))
            {
                list.Add(item.Path + ":attestedBy", $"'{kind}' is not an attestation kind", "one of: " + string.Join(", ", Identity.AttestationKinds.Names), showValue: false);
            }
            var grants = ConfigSections.Items(item.GetSection("grants")).Select(g => g.Value?.Trim()).OfType<string>().ToList();
            foreach (var grant in grants.Where(g => !config.Routes.Any(r => string.Equals(r.RouteId, g, StringComparison.OrdinalIgnoreCase))
                && !config.Credentials.ContainsKey(g) && !config.Databases.ContainsKey(g)))
            {
                list.Add(item.Path + ":grants", $"'{grant}' is neither a route, a credential nor a database of the config",
                    KeySuggestion.Fix(grant, config.Routes.Select(r => r.RouteId).Concat(config.Credentials.Keys).Order(StringComparer.Ordinal), "routes and credentials"), showValue: false);
            }
            if (ConfigSections.Value(item, "route") is { } route && !config.Routes.Any(r => string.Equals(r.RouteId, route, StringComparison.OrdinalIgnoreCase)) && !config.Databases.ContainsKey(route))
            {
                list.Add(item.Path + ":route", $"'{route}' is neither a route under ReverseProxy.Routes nor a database of the config",
                    KeySuggestion.Fix(route, config.Routes.Select(r => r.RouteId).Concat(config.Databases.Keys).Order(StringComparer.Ordinal), "routes"), showValue: false);
            }
            var at = ReadTime(item.GetSection("at"), list) ?? defaultAt;
            if (list.Errors.Count != before)
            {
                continue;
            }
            var line = document.LineOf(item.Path);
            cases.Add(new PolicyCase(name, $"{document.FileName}{(line is { } l ? ":" + l.ToString(CultureInfo.InvariantCulture) : "")}",
                new PolicyQuery(identity!, method, requestPath ?? "/")
                {
                    Route = ConfigSections.Value(item, "route"),
                    Host = ConfigSections.Value(item, "host"),
                    At = at,
                    Grants = grants,
                    AttestedBy = attestation,
                }, expect == "allow")
            {
                ExpectRule = rule,
                ExpectReason = reason,
            });
        }
        errors = list.Errors;
        return cases;
    }

    /// <summary>An ISO 8601 time with its offset (<c>2026-03-02T10:00:00+01:00</c> or <c>...Z</c>); null when absent.</summary>
    private static DateTimeOffset? ReadTime(IConfigurationSection section, ConfigErrorList errors)
    {
        if (section.Value is not { Length: > 0 } text)
        {
            return null;
        }
        if (TryParseTime(text, out var at))
        {
            return at;
        }
        errors.Add(section.Path, $"'{text}' is not a time with a UTC offset", "write an ISO 8601 time with its offset, e.g. 2026-03-02T10:00:00+01:00 or 2026-03-02T09:00:00Z", showValue: false);
        return null;
    }

    /// <summary>Parses <c>--at</c> and case times: ISO 8601 with an explicit offset or Z (a local time would depend on the CI machine).</summary>
    public static bool TryParseTime(string text, out DateTimeOffset at)
    {
        at = default;
        var trimmed = text.Trim();
        var hasOffset = trimmed.EndsWith('Z') || trimmed.EndsWith('z') || (trimmed.Length > 6 && trimmed[^6] is '+' or '-' && trimmed[^3] == ':');
        return hasOffset && DateTimeOffset.TryParse(trimmed, CultureInfo.InvariantCulture, DateTimeStyles.None, out at);
    }
}
