namespace SecretlessProxy.Hooks;

/// <summary>What the hook answered: allow or deny with its reason, or that it could not be asked (<see cref="Failed"/>).</summary>
public readonly record struct HookVerdict(bool Allowed, string? Reason, bool Failed, bool Cached)
{
    public const string Allow = "allow";
    public const string Deny = "deny";
    public const string Error = "error";

    public string Outcome => Failed ? Error : Allowed ? Allow : Deny;
}
