using System.Text;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>Checks and shapes of AWS names: regions, signing names, role ARNs, role session names.</summary>
internal static class AwsNames
{
    public const int MaxSessionNameLength = 64;

    public static bool IsSigningName(string value) =>
        value.Length is > 0 and <= 64 && value.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');

    public static void ValidateRegion(PluginConfig config, string key, bool required)
    {
        var region = config.Get(key);
        if (region is null)
        {
            if (required)
            {
                config.Error(key, "is required", "name the AWS region, e.g. region: us-east-1");
            }
            return;
        }
        if (!IsSigningName(region))
        {
            config.Error(key, "is not an AWS region name", "use lowercase letters, digits and '-', e.g. region: eu-west-1");
        }
    }

    /// <summary>True for <c>arn:PARTITION:iam::ACCOUNT:role/NAME</c>.</summary>
    public static bool IsRoleArn(string value)
    {
        var parts = value.Split(':', 6);
        return parts.Length == 6 && parts[0] == "arn" && parts[1].Length > 0 && parts[2] == "iam" && parts[5].StartsWith("role/", StringComparison.Ordinal) && parts[5].Length > 5;
    }

    /// <summary>True when STS accepts <paramref name="value"/> as a role session name (2–64 of <c>[\w+=,.@-]</c>).</summary>
    public static bool IsSessionName(string value) => value.Length is >= 2 and <= MaxSessionNameLength && value.All(IsSessionNameChar);

    /// <summary>
    /// A session name STS accepts, made from any text (a credential name, a SPIFFE ID): characters outside
    /// <c>[\w+=,.@-]</c> become '-', cut to 64, padded to the minimum length of 2.
    /// </summary>
    public static string SanitizeSessionName(string value)
    {
        var builder = new StringBuilder(Math.Min(value.Length, MaxSessionNameLength));
        foreach (var c in value)
        {
            if (builder.Length == MaxSessionNameLength)
            {
                break;
            }
            builder.Append(IsSessionNameChar(c) ? c : '-');
        }
        while (builder.Length < 2)
        {
            builder.Append('-');
        }
        return builder.ToString();
    }

    private static bool IsSessionNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '+' or '=' or ',' or '.' or '@' or '-';
}
