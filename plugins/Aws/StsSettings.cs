using System.Globalization;
using System.Text.Json;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>The keys both STS providers share, validated and read.</summary>
internal sealed record StsSettings(
    string CredentialName,
    string RoleArn,
    string RoleSessionName,
    int DurationSeconds,
    string Region,
    Uri Endpoint,
    string? ExternalId,
    string? Policy,
    IReadOnlyList<KeyValuePair<string, string>> SessionTags,
    TimeSpan Timeout)
{
    public const string DefaultRegion = "us-east-1";
    public const int DefaultDurationSeconds = 3600;

    public static readonly string[] KeyNames =
        ["roleArn", "roleSessionName", "durationSeconds", "region", "stsEndpoint", "externalId", "policy", "sessionTags", "timeout"];

    /// <summary>Keys not shown in GET /config: the external id (a shared secret of the role's trust policy), session policy and tags.</summary>
    public static readonly string[] PrivateKeyNames = ["externalId", "policy", "sessionTags"];

    public static void Validate(PluginConfig config)
    {
        if (config.Get("roleArn") is not { } roleArn)
        {
            config.Error("roleArn", "is required", "name the role to assume, e.g. roleArn: arn:aws:iam::123456789012:role/uploader");
        }
        else if (!AwsNames.IsRoleArn(roleArn))
        {
            config.Error("roleArn", "is not an IAM role ARN", "write arn:aws:iam::ACCOUNT:role/NAME");
        }
        if (config.Get("roleSessionName") is { } session && !AwsNames.IsSessionName(session))
        {
            config.Error("roleSessionName", "is not a valid role session name", "use 2 to 64 characters of letters, digits and _+=,.@-");
        }
        if (config.Get("durationSeconds") is { } duration
            && (!int.TryParse(duration, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds is < 900 or > 43200))
        {
            config.Error("durationSeconds", "must be a whole number of seconds from 900 to 43200 (STS's range)", "e.g. durationSeconds: 3600");
        }
        AwsNames.ValidateRegion(config, "region", required: false);
        if (config.Get("stsEndpoint") is { } endpoint
            && (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || !string.IsNullOrEmpty(uri.UserInfo)))
        {
            config.Error("stsEndpoint", "is not an http(s) URL", "e.g. stsEndpoint: https://sts.eu-west-1.amazonaws.com");
        }
        if (config.Get("externalId") is { } externalId && externalId.Length is < 2 or > 1224)
        {
            config.Error("externalId", "must be 2 to 1224 characters", "use the external id the role's trust policy names");
        }
        if (config.Get("policy") is { } policy)
        {
            try
            {
                using var _ = JsonDocument.Parse(policy);
            }
            catch (JsonException)
            {
                config.Error("policy", "is not JSON", "write an IAM session policy document as a JSON string");
            }
        }
        foreach (var tag in config.Section.GetSection("sessionTags").GetChildren())
        {
            if (tag.Key.Length is 0 or > 128 || tag.Value is null || tag.Value.Length > 256)
            {
                config.Error("sessionTags." + tag.Key, "is not a session tag (key up to 128 characters, value up to 256)", "write sessionTags: { team: payments }");
            }
        }
        if (config.Get("timeout") is { } timeout
            && (!TimeSpan.TryParse(timeout, CultureInfo.InvariantCulture, out var span) || span <= TimeSpan.Zero))
        {
            config.Error("timeout", "must be a positive duration", "write it as hh:mm:ss, e.g. timeout: 00:00:10");
        }
    }

    public static StsSettings Read(PluginConfig config)
    {
        var region = config.Get("region") ?? DefaultRegion;
        return new StsSettings(
            config.EntityName,
            config.Get("roleArn")!,
            config.Get("roleSessionName") ?? AwsNames.SanitizeSessionName("secretless-proxy-" + config.EntityName),
            config.Get("durationSeconds") is { } duration ? int.Parse(duration, CultureInfo.InvariantCulture) : DefaultDurationSeconds,
            region,
            new Uri(config.Get("stsEndpoint") ?? $"https://sts.{region}.amazonaws.com"),
            config.Get("externalId"),
            config.Get("policy"),
            config.Section.GetSection("sessionTags").GetChildren().Select(t => new KeyValuePair<string, string>(t.Key, t.Value ?? "")).ToList(),
            config.Get("timeout") is { } timeout ? TimeSpan.Parse(timeout, CultureInfo.InvariantCulture) : TimeSpan.FromSeconds(10));
    }
}
