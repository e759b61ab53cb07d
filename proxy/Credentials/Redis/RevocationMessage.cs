namespace SecretlessProxy.Credentials.Redis;

/// <summary>What a replica publishes when it revokes a credential (all of it, or one workload's).</summary>
internal sealed record RevocationMessage(string Origin, string? Credential, string? Workload);
