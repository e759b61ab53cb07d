using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>The settings of <c>provider: aws-secrets-manager</c> (one secret, one version selector, one key).</summary>
internal sealed record SecretsManagerSettings(
    string CredentialName,
    string SecretId,
    string Region,
    Uri Endpoint,
    string? VersionStage,
    string? VersionId,
    string? JsonKey,
    TimeSpan Ttl,
    TimeSpan Timeout)
{
    public const string DefaultVersionStage = "AWSCURRENT";

    public static readonly TimeSpan DefaultTtl = TimeSpan.FromMinutes(5);

    public static readonly string[] KeyNames = ["secretId", "region", "endpoint", "versionStage", "versionId", "jsonKey", "ttl", "timeout", AuthKey];

    public const string AuthKey = "auth";

    public static void Validate(PluginConfig config)
    {
        if (config.Get("secretId") is not { } secretId)
        {
            config.Error("secretId", "is required", "name the secret (its name or ARN), e.g. secretId: prod/billing/api");
        }
        else if (secretId.Length > 2048)
        {
            config.Error("secretId", "is longer than 2048 characters (Secrets Manager's limit)", "use the secret's name or ARN");
        }
        AwsNames.ValidateRegion(config, "region", required: true);
        config.CheckHttpUrl("endpoint", "endpoint: https://secretsmanager.eu-west-1.amazonaws.com (default: from region)");
        if (config.Get("versionStage") is not null && config.Get("versionId") is not null)
        {
            config.Error("versionId", "cannot be set together with versionStage", "pin a version with versionId, or follow a stage (AWSCURRENT, AWSPENDING) with versionStage");
        }
        if (config.Get("versionStage") is { } stage && (stage.Length is 0 or > 256 || stage.Any(char.IsWhiteSpace)))
        {
            config.Error("versionStage", "is not a version stage label", "e.g. versionStage: AWSCURRENT or versionStage: AWSPENDING");
        }
        if (config.Get("versionId") is { } versionId && (versionId.Length is < 32 or > 64 || versionId.Any(char.IsWhiteSpace)))
        {
            config.Error("versionId", "is not a version id (32 to 64 characters)", "copy the VersionId Secrets Manager shows, e.g. versionId: EXAMPLE1-90ab-cdef-fedc-ba987SECRET1");
        }
        config.CheckDuration("ttl", TimeSpan.FromSeconds(1), "ttl: 00:05:00 (how long a fetched value serves before it is fetched again)");
        config.CheckDuration("timeout", TimeSpan.FromMilliseconds(1), "timeout: 00:00:05");
    }

    public static SecretsManagerSettings Read(PluginConfig config)
    {
        var region = config.Get("region")!;
        var versionId = config.Get("versionId");
        return new SecretsManagerSettings(
            config.EntityName,
            config.Get("secretId")!,
            region,
            new Uri(config.Get("endpoint") ?? $"https://secretsmanager.{region}.amazonaws.com/"),
            versionId is null ? config.Get("versionStage") ?? DefaultVersionStage : null,
            versionId,
            config.Get("jsonKey"),
            config.GetDuration("ttl") ?? DefaultTtl,
            config.GetDuration("timeout") ?? TimeSpan.FromSeconds(5));
    }
}
