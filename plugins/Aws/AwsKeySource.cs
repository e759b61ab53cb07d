using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// Long-lived AWS access keys from a store: each part from a file (<c>accessKeyIdFile</c>, ...) or an
/// environment variable (<c>accessKeyIdVariable</c>, ...). Files are read when the keys are needed, so a
/// rotated file is picked up; never logged.
/// </summary>
internal sealed class AwsKeySource
{
    public static readonly string[] KeyNames =
    [
        "accessKeyIdFile", "accessKeyIdVariable", "secretAccessKeyFile", "secretAccessKeyVariable", "sessionTokenFile", "sessionTokenVariable",
    ];

    private const long MaxFileBytes = 16 * 1024;

    private static readonly System.Buffers.SearchValues<char> NotInKeyId = System.Buffers.SearchValues.Create(" \t\r\n\0/");

    private readonly string _name;
    private readonly Part _accessKeyId;
    private readonly Part _secretAccessKey;
    private readonly Part? _sessionToken;

    private AwsKeySource(string name, Part accessKeyId, Part secretAccessKey, Part? sessionToken)
    {
        _name = name;
        _accessKeyId = accessKeyId;
        _secretAccessKey = secretAccessKey;
        _sessionToken = sessionToken;
    }

    public static void Validate(PluginConfig config)
    {
        ValidatePart(config, "accessKeyId", required: true);
        ValidatePart(config, "secretAccessKey", required: true);
        ValidatePart(config, "sessionToken", required: false);
    }

    public static AwsKeySource Build(PluginConfig config) => new(
        config.EntityName,
        PartOf(config, "accessKeyId")!,
        PartOf(config, "secretAccessKey")!,
        PartOf(config, "sessionToken"));

    /// <summary>Reads the keys now. Throws <see cref="CredentialUnavailableException"/> naming what is missing (never a value).</summary>
    public (string AccessKeyId, SecretValue SecretAccessKey, SecretValue? SessionToken) Read()
    {
        var accessKeyId = Read(_accessKeyId);
        if (accessKeyId.AsSpan().IndexOfAny(NotInKeyId) >= 0)
        {
            throw new CredentialUnavailableException(_name, $"the access key id from {_accessKeyId.Describe()} is malformed");
        }
        var secret = new SecretValue(Read(_secretAccessKey));
        var token = _sessionToken is null ? null : new SecretValue(Read(_sessionToken));
        return (accessKeyId, secret, token);
    }

    private string Read(Part part)
    {
        string? value;
        if (part.File is { } file)
        {
            try
            {
                var info = new FileInfo(file);
                if (!info.Exists)
                {
                    throw new CredentialUnavailableException(_name, $"file '{file}' does not exist");
                }
                if (info.Length > MaxFileBytes)
                {
                    throw new CredentialUnavailableException(_name, $"file '{file}' is larger than {MaxFileBytes} bytes");
                }
                value = File.ReadAllText(file).Trim();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new CredentialUnavailableException(_name, $"file '{file}' could not be read ({ex.GetType().Name})");
            }
        }
        else
        {
            value = Environment.GetEnvironmentVariable(part.Variable!)?.Trim();
        }
        if (string.IsNullOrEmpty(value))
        {
            throw new CredentialUnavailableException(_name, $"{part.Describe()} is empty or not set");
        }
        return value;
    }

    private static void ValidatePart(PluginConfig config, string part, bool required)
    {
        var file = config.Get(part + "File");
        var variable = config.Get(part + "Variable");
        if (file is not null && variable is not null)
        {
            config.Error(part + "Variable", $"cannot be set together with '{part}File'", "keep one of the two");
        }
        else if (file is null && variable is null && required)
        {
            config.Error(part + "File", "is required (or " + part + "Variable)",
                $"set '{part}File' to the file holding it, or '{part}Variable' to the environment variable, e.g. {part}Variable: AWS_{(part == "accessKeyId" ? "ACCESS_KEY_ID" : "SECRET_ACCESS_KEY")}");
        }
        if (variable is not null && variable.Contains('=', StringComparison.Ordinal))
        {
            config.Error(part + "Variable", "is not a valid environment variable name", "use the variable's name only, without '=' or a value");
        }
    }

    private static Part? PartOf(PluginConfig config, string part) =>
        config.Get(part + "File") is { } file ? new Part(config.ResolvePath(file), null)
        : config.Get(part + "Variable") is { } variable ? new Part(null, variable)
        : null;

    private sealed record Part(string? File, string? Variable)
    {
        public string Describe() => File is not null ? $"file '{File}'" : $"environment variable '{Variable}'";
    }
}
