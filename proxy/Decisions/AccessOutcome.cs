using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Decisions;

/// <summary>What the decision core answered: allowed, or the catalog entry to refuse with and our own detail.</summary>
public readonly record struct AccessOutcome(Decision Decision, Refusal? Refusal, string? Detail)
{
    /// <summary>The external decision hook's reason, when it refused the call.</summary>
    public string? HookReason { get; init; }

    public bool IsAllowed => Refusal is null;
}
