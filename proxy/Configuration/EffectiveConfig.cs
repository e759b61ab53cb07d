using System.Collections.Frozen;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Credentials;

namespace SecretlessProxy.Configuration;

/// <summary>
/// The config in force as JSON for <c>GET /config</c>, rendered once when it is compiled, with anything that may
/// be a secret replaced by <c>[redacted]</c>: under <c>credentials</c> every value except the keys the host reads
/// (provider, description, lifetimes) and those the credential's provider and injector declare echoable
/// (<c>EchoableKeys</c>: paths, variable names, URLs, settings); elsewhere values of keys whose name
/// suggests a secret, header values set by transforms and user info in URLs.
/// </summary>
internal static partial class EffectiveConfig
{
    public const string Redacted = "[redacted]";

    // Keys of every credential the host itself reads; the rest belong to the provider or injector, which says which it shows.
    private static readonly FrozenSet<string> HostKeys = new[] { "provider", "description", "maxTtl", "refreshFraction", "store", "class", "owner", "team" }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    // Without a document (a bare key path): what any built-in plugin shows.
    private static readonly FrozenSet<string> AnyPluginEchoes = PluginCatalog.CreateDefault() is var defaults
        ? defaults.Providers.Values.SelectMany(p => p.EchoableKeys).Concat(defaults.Injectors.Values.SelectMany(i => i.EchoableKeys)).ToFrozenSet(StringComparer.OrdinalIgnoreCase)
        : FrozenSet<string>.Empty;

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string Render(ConfigDocument document, PluginCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(catalog);
        string Show(string path, string value) => Redact(path, value, key => document.Root[key], catalog);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, JsonOptions))
        {
            WriteSection(json, document, document.Root.GetChildren(), "", document.IsSequence(""), Show);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteSection(Utf8JsonWriter json, ConfigDocument document, IEnumerable<IConfigurationSection> children, string path, bool isList, Func<string, string, string> show)
    {
        var items = children.ToList();
        if (isList)
        {
            json.WriteStartArray();
            foreach (var child in items.OrderBy(c => int.TryParse(c.Key, out var i) ? i : int.MaxValue))
            {
                WriteValue(json, document, child, show);
            }
            json.WriteEndArray();
            return;
        }
        json.WriteStartObject();
        foreach (var child in items)
        {
            json.WritePropertyName(child.Key);
            WriteValue(json, document, child, show);
        }
        json.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter json, ConfigDocument document, IConfigurationSection section, Func<string, string, string> show)
    {
        var children = section.GetChildren().ToList();
        if (children.Count > 0 || document.IsSequence(section.Path))
        {
            WriteSection(json, document, children, section.Path, document.IsSequence(section.Path), show);
        }
        else if (section.Value is null)
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteStringValue(show(section.Path, section.Value));
        }
    }

    internal static string Redact(string path, string value) => Redact(path, value, null, null);

    /// <summary>
    /// A credential's value is shown only when its key is one the host reads or one its provider (or, under
    /// <c>inject</c>, its injector) declares echoable; <paramref name="read"/> finds which provider that is.
    /// </summary>
    private static string Redact(string path, string value, Func<string, string?>? read, PluginCatalog? catalog)
    {
        var parts = path.Split(':');
        var last = parts[^1];
        if (parts[0].Equals("credentials", StringComparison.OrdinalIgnoreCase))
        {
            return parts.Length >= 3 && Echoable(parts, read, catalog) ? Url(value) : Redacted;
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

    private static bool Echoable(string[] parts, Func<string, string?>? read, PluginCatalog? catalog)
    {
        var credential = string.Join(':', parts[..2]);
        var isInject = parts[2].Equals("inject", StringComparison.OrdinalIgnoreCase);
        if (isInject && parts.Length == 4 && parts[3].Equals("type", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }
        var key = isInject ? (parts.Length >= 4 ? parts[3] : "") : parts[2];
        // Deeper than the key: only list items (scopes: [a, b]) are values of it; map entries (claims, parameters) are not.
        var rest = parts[(isInject ? 4 : 3)..];
        if (rest.Any(p => !int.TryParse(p, out _)))
        {
            return false;
        }
        if (!isInject && HostKeys.Contains(key))
        {
            return true;
        }
        if (read is null || catalog is null)
        {
            return AnyPluginEchoes.Contains(key);
        }
        if (isInject)
        {
            return catalog.Injectors.TryGetValue(read(credential + ":inject:type") ?? "header", out var injector) && injector.EchoableKeys.Contains(key, StringComparer.OrdinalIgnoreCase);
        }
        return read(credential + ":provider") is { } provider && catalog.Providers.TryGetValue(provider, out var factory) && factory.EchoableKeys.Contains(key, StringComparer.OrdinalIgnoreCase);
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
