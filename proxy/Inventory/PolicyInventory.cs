using System.Collections.Frozen;
using SecretlessProxy.Configuration;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Inventory;

/// <summary>
/// The policy-derived part of the inventory, from a compiled config alone (no running proxy needed): every
/// identity or pattern a rule names, the routes it opens or closes, on what conditions, and the credential
/// each route injects.
/// </summary>
public static class PolicyInventory
{
    /// <summary>Providers that hand out a long-lived secret from a store (migration debt).</summary>
    public static FrozenSet<string> StaticProviders { get; } = new[] { "file", "env", "secret-dir" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public static IReadOnlyList<AccessPath> Paths(ProxyConfig config, IReadOnlyDictionary<string, string>? identityNames = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var rows = new List<AccessPath>();
        foreach (var rule in config.Policy.Rules)
        {
            foreach (var pattern in rule.Identities)
            {
                foreach (var route in rule.Routes)
                {
                    rows.Add(Row(config, pattern.Text, identityNames?.GetValueOrDefault(pattern.Text), route, rule));
                }
            }
        }
        return rows.OrderBy(r => r.Identity, StringComparer.Ordinal).ThenBy(r => r.Route, StringComparer.OrdinalIgnoreCase).ThenBy(r => r.IsDeny ? 0 : 1).ToList();
    }

    /// <summary>The access paths of one concrete workload: every rule whose identities match it.</summary>
    public static IReadOnlyList<AccessPath> PathsOf(ProxyConfig config, SpiffeId id)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(id);
        var rows = new List<AccessPath>();
        foreach (var rule in config.Policy.Rules)
        {
            if (rule.Identities.FirstOrDefault(p => p.Matches(id)) is not { } pattern)
            {
                continue;
            }
            foreach (var route in rule.Routes)
            {
                rows.Add(Row(config, pattern.Text, null, route, rule));
            }
        }
        return rows;
    }

    private static AccessPath Row(ProxyConfig config, string identity, string? name, string route, Policy.PolicyRule rule)
    {
        config.RouteCredentials.TryGetValue(route, out var binding);
        return new AccessPath(
            identity,
            name,
            route,
            rule.Name,
            rule.IsDeny,
            rule.Methods is null ? null : string.Join(',', rule.Methods.Order(StringComparer.Ordinal)),
            rule.Paths is null ? null : string.Join(',', rule.Paths),
            rule.Schedule?.ToString(),
            rule.RequireGrant,
            binding?.Name,
            binding?.ProviderName,
            binding is null ? null : StaticProviders.Contains(binding.ProviderName) || binding.IssuesStaticSecrets)
        {
            IdentityOwners = config.OwnerOfIdentity(identity),
            RouteOwners = config.RouteOwners.GetValueOrDefault(route) ?? Ownership.None,
            CredentialOwners = binding is null ? Ownership.None : new Ownership(binding.Owner, binding.Team),
            Store = binding?.Store,
            Class = binding?.Class?.Name,
        };
    }
}
