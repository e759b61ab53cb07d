using System.Collections.Frozen;
using System.Net;

namespace SecretlessProxy.Policy;

/// <summary>
/// The conditions of a rule's <c>when</c> beyond attestation facts: the caller's context facts (from the posture
/// source), the listener, the source address and time windows. All given must hold. A condition over a fact that
/// is unknown (no fresh posture entry, no source address) never lets a call through: an allow rule does not apply,
/// and a deny rule does.
/// </summary>
public sealed class RuleConditions(IReadOnlyList<FactCondition>? facts, FrozenSet<string>? listeners, IReadOnlyList<IPNetwork>? sources, IReadOnlyList<Schedule>? times)
{
    private readonly FactCondition[] _facts = facts?.ToArray() ?? [];
    private readonly IPNetwork[] _sources = sources?.ToArray() ?? [];
    private readonly Schedule[] _times = times?.ToArray() ?? [];

    /// <summary>Context facts the caller must have (<c>when: { facts: { posture: compliant } }</c>).</summary>
    public IReadOnlyList<FactCondition> Facts => _facts;

    /// <summary>Listener names the call must come in on; null means any.</summary>
    public FrozenSet<string>? Listeners { get; } = listeners;

    /// <summary>Networks the peer's address must lie in; empty means any.</summary>
    public IReadOnlyList<IPNetwork> Sources => _sources;

    /// <summary>Windows one of which must be active; empty means always.</summary>
    public IReadOnlyList<Schedule> Times => _times;

    public bool UsesContextFacts => _facts.Length > 0;

    /// <summary>
    /// Null when the conditions hold; else what does not match. <paramref name="unknown"/> tells that nothing
    /// failed outright but some condition named a fact that is unknown (the caller decides what that means).
    /// </summary>
    public string? Mismatch(in DecisionContext context, DateTimeOffset now, out bool unknown)
    {
        unknown = false;
        string? unknownWhat = null;
        if (Listeners is not null)
        {
            if (context.Listener is null)
            {
                unknownWhat ??= "listener (unknown)";
            }
            else if (!Listeners.Contains(context.Listener))
            {
                return "listener";
            }
        }
        if (_sources.Length > 0)
        {
            if (context.Source is not { } address)
            {
                unknownWhat ??= "source address (the caller has none: a Unix socket)";
            }
            else if (!InAny(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address))
            {
                return "source address";
            }
        }
        for (var i = 0; i < _facts.Length; i++)
        {
            var condition = _facts[i];
            if (context.Facts is not { } known || !known.Values.TryGetValue(condition.Fact, out var value))
            {
                unknownWhat ??= "context fact " + condition.Fact + " (unknown: the posture source has no fresh facts for this caller)";
            }
            else if (!condition.Values.Contains(value))
            {
                return "context fact " + condition.Fact;
            }
        }
        if (_times.Length > 0 && !AnyActive(now))
        {
            return "time";
        }
        unknown = unknownWhat is not null;
        return unknownWhat;
    }

    private bool InAny(IPAddress address)
    {
        for (var i = 0; i < _sources.Length; i++)
        {
            if (_sources[i].Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    private bool AnyActive(DateTimeOffset now)
    {
        for (var i = 0; i < _times.Length; i++)
        {
            if (_times[i].IsActive(now))
            {
                return true;
            }
        }
        return false;
    }

    public override string ToString() =>
        $"facts={string.Join(';', _facts.Select(f => f.ToString()))}|listeners={(Listeners is null ? "*" : string.Join(',', Listeners.Order(StringComparer.OrdinalIgnoreCase)))}|sources={string.Join(',', _sources)}|times={string.Join(';', _times.Select(t => t.ToString()))}";
}
