using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Decisions;

/// <summary>What the decision core answered: allowed, or the catalog entry to refuse with and our own detail.</summary>
public readonly record struct AccessOutcome(Decision Decision, Refusal? Refusal, string? Detail)
{
    public bool IsAllowed => Refusal is null;
}
