using System.Collections.Frozen;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Configuration;

namespace SecretlessProxy.Admin;

/// <summary>
/// The config in force as JSON for <c>GET /config</c>, rendered once when it is compiled, with anything that may
/// be a secret replaced by <c>[redacted]</c>: under <c>credentials</c> every value except a list of known
/// non-secret keys (provider, paths, variable names, URLs, lifetimes...); elsewhere values of keys whose name
/// suggests a secret, header values set by transforms and user info in URLs.
/// </summary>
internal static partial class EffectiveConfig
{
    public const string Redacted = "[redacted]";

    private static readonly FrozenSet<string> CredentialKeys = new[]
    {
        "provider", "description", "maxTtl", "refreshFraction", "type", "name", "template", "username", "usernameVariable", "usernameKey",
        "path", "key", "variable", "trim", "pollInterval", "tokenUrl", "issuer", "clientId", "clientAuth", "clientSecretFile", "clientSecretEnv",
        "privateKey", "keyId", "assertionAudience", "scopes", "audience", "resource", "timeout", "signingKey", "ttl", "subjectSigningKey",
        "subjectKeyId", "subjectIssuer", "subjectAudience", "subjectTtl", "requestedTokenType", "region", "roleArn", "service",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Render(ConfigDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            WriteSection(json, document, document.Root.GetChildren(), "", document.IsSequence(""));
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteSection(Utf8JsonWriter json, ConfigDocument document, IEnumerable<IConfigurationSection> children, string path, bool isList)
    {
        var items = children.ToList();
        if (isList)
        {
            json.WriteStartArray();
            foreach (var child in items.OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue))
            {
                WriteValue(json, document, child);
            }
            json.WriteEndArray();
            return;
        }
        json.WriteStartObject();
        foreach (var child in items)
        {
            json.WritePropertyName(child.Key);
            WriteValue(json, document, child);
        }
        json.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter json, ConfigDocument document, IConfigurationSection section)
    {
        var children = section.GetChildren().ToList();
        if (children.Count > 0 || document.IsSequence(section.Path))
        {
            WriteSection(json, document, children, section.Path, document.IsSequence(section.Path));
        }
        else if (section.Value is null)
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteStringValue(Redact(section.Path, section.Value));
        }
    }

    internal static string Redact(string path, string value)
    {
        var parts = path.Split(':');
        var last = parts[^1];
        if (parts[0].Equals("credentials", StringComparison.OrdinalIgnoreCase))
        {
            return parts.Length >= 3 && CredentialKeys.Contains(last) && !parts.Skip(2).Any(p => p.Equals("parameters", StringComparison.OrdinalIgnoreCase) || p.Equals("claims", StringComparison.OrdinalIgnoreCase))
                ? Url(value)
                : Redacted;
        }
        if (SecretName().IsMatch(last))
        {
            return Redacted;
        }
        if (parts.Any(p => p.Equals("Transforms", StringComparison.OrdinalIgnoreCase)) && (last.Equals("Set", StringComparison.OrdinalIgnoreCase) || last.Equals("Append", StringComparison.OrdinalIgnoreCase)))
        {
            return Redacted;
        }
        return Url(value);
    }

    /// <summary>A URL keeps scheme, host, port and path; user info becomes [redacted] and the query and fragment are cut.</summary>
    private static string Url(string value)
    {
        if (!value.Contains("://", StringComparison.Ordinal))
        {
            return value;
        }
        var masked = UserInfo().Replace(value, "://" + Redacted + "@");
        var cut = masked.IndexOfAny(['?', '#']);
        return cut < 0 ? masked : masked[..cut] + (masked[cut] == '?' ? "?" + Redacted : "");
    }

    [GeneratedRegex("secret|password|passwd|token|apikey|api_key|authorization|credential|encryption|privatekey|configuration|connectionstring", RegexOptions.IgnoreCase)]
    private static partial Regex SecretName();

    [GeneratedRegex(@"://[^/@\s]+@")]
    private static partial Regex UserInfo();
}
