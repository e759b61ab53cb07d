using System.Globalization;
using SecretlessProxy.Credentials;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Configuration;

/// <summary>
/// <c>classes</c>: secret classes (<c>classes: { payments-db: { maxTtl: 15m, allow: [payments-api, "spiffe://…/ns/payments/*"] } }</c>).
/// A credential names its class (<c>class: payments-db</c>); only workloads the class allows may obtain it (on top of
/// the routes' rules), and it is cached at most the class's <c>maxTtl</c>.
/// </summary>
internal static class ClassSection
{
    private static readonly string[] Keys = ["description", "maxTtl", "allow", "owner", "team"];

    public static Dictionary<string, SecretClass> Compile(ConfigDocument document, ConfigErrorList errors, IReadOnlyDictionary<string, SpiffeIdPattern> identities)
    {
        var result = new Dictionary<string, SecretClass>(StringComparer.OrdinalIgnoreCase);
        var section = document.Root.GetSection("classes");
        if (section.Value is not null)
        {
            errors.Add(section.Path, "must be a mapping of class names", "write classes: { payments-db: { maxTtl: 15m, allow: [payments-api] } }");
            return result;
        }
        foreach (var entry in section.GetChildren())
        {
            ConfigSections.CheckKnownKeys(entry, Keys, errors, "a secret class");
            TimeSpan? maxTtl = null;
            if (ConfigSections.Value(entry, "maxTtl") is { } text)
            {
                maxTtl = Durations.Parse(text) ?? (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var parsed) && parsed > TimeSpan.Zero ? parsed : null);
                if (maxTtl is null || maxTtl < TimeSpan.FromSeconds(1))
                {
                    errors.Add(entry.Path + ":maxTtl", "is not a duration of at least one second", "write e.g. maxTtl: 15m (s, m, h, d) or 00:15:00");
                    maxTtl = null;
                }
            }
            var allow = entry.GetSection("allow");
            var patterns = allow.Exists() ? PolicySection.ReadIdentities(document, allow, identities, errors) : new List<SpiffeIdPattern>();
            var owners = Ownership.Read(entry, errors);
            result[entry.Key] = new SecretClass(entry.Key, ConfigSections.Value(entry, "description"), maxTtl, patterns, owners.Owner, owners.Team);
        }
        return result;
    }
}
