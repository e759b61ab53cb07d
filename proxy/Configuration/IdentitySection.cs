using System.Globalization;
using Microsoft.Extensions.Configuration;
using SecretlessProxy.Identity;
using SecretlessProxy.Identity.Unix;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>identities</c>: every entry names a SPIFFE ID or pattern policies can refer to by name; an entry with
/// an exact ID can also be a local caller's identity (a loopback listener's <c>identity</c>, or <c>unix</c> selectors
/// for Unix socket peers). Two identities one caller could match both are refused.
/// </summary>
internal static class IdentitySection
{
    private static readonly string[] Keys = ["spiffeId", "description", "unix", "owner", "team"];
    private static readonly string[] UnixKeys = ["uid", "user", "gid", "group", "supplementaryGid", "supplementaryGroup", "path", "sha256", "cgroup"];

    public static (Dictionary<string, SpiffeIdPattern> Patterns, LocalIdentityMap Local) Compile(ConfigDocument document, ConfigErrorList errors) => Compile(document, errors, out _);

    /// <param name="owners">Each identity's <c>owner</c> and <c>team</c>, by its name.</param>
    public static (Dictionary<string, SpiffeIdPattern> Patterns, LocalIdentityMap Local) Compile(ConfigDocument document, ConfigErrorList errors, out Dictionary<string, Ownership> owners)
    {
        owners = new Dictionary<string, Ownership>(StringComparer.OrdinalIgnoreCase);
        var patterns = new Dictionary<string, SpiffeIdPattern>(StringComparer.OrdinalIgnoreCase);
        var local = new List<LocalIdentity>();
        var paths = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var identity in document.Root.GetSection("identities").GetChildren())
        {
            ConfigSections.CheckKnownKeys(identity, Keys, errors, "an identity");
            owners[identity.Key] = Ownership.Read(identity, errors);
            var text = ConfigSections.Value(identity, "spiffeId");
            var unixSection = identity.GetSection("unix");
            var unix = unixSection.Exists() ? CompileUnix(unixSection, errors) : null;
            if (!unixSection.Exists() && document.Writes(unixSection.Path))
            {
                errors.Add(unixSection.Path, "names no selector, so every local caller would be this identity", "give at least one of " + string.Join(", ", UnixKeys));
            }
            if (text is null)
            {
                errors.Add(identity.Path + ":spiffeId", "is required", "write the workload's SPIFFE ID, e.g. spiffeId: spiffe://example.org/ns/payments/sa/api (or .../* for every ID below a path)");
                continue;
            }
            if (!SpiffeIdPattern.TryParse(text, out var pattern, out var error))
            {
                errors.Add(identity.Path + ":spiffeId", $"is not a valid SPIFFE ID or pattern: {error}", "write spiffe://trust-domain/path exactly, or spiffe://trust-domain/path/* for a whole subtree");
                continue;
            }
            patterns[identity.Key] = pattern;
            paths[identity.Key] = identity.Path;
            if (SpiffeId.TryParse(text, out var exact, out _) && exact.Path.Length > 0)
            {
                local.Add(new LocalIdentity(identity.Key, exact, unix));
            }
            else if (unixSection.Exists())
            {
                errors.Add(identity.Path + ":spiffeId", "must be one exact SPIFFE ID with a path for an identity with unix selectors: a caller becomes that ID",
                    "write spiffe://trust-domain/path without a trailing /*");
            }
        }
        var withUnix = local.Where(i => i.Unix is not null).ToList();
        for (var i = 0; i < withUnix.Count; i++)
        {
            for (var j = i + 1; j < withUnix.Count; j++)
            {
                if (!withUnix[i].Unix!.ExcludesEachOther(withUnix[j].Unix!))
                {
                    errors.Add(paths[withUnix[j].Name] + ":unix",
                        $"one caller could match both identities '{withUnix[i].Name}' ({withUnix[i].Unix}) and '{withUnix[j].Name}' ({withUnix[j].Unix})",
                        "make their selectors exclusive: give both a different uid, gid, path, sha256 or non-overlapping cgroup prefix");
                }
            }
        }
        return (patterns, new LocalIdentityMap(local));
    }

    private static UnixSelectors? CompileUnix(IConfigurationSection section, ConfigErrorList errors)
    {
        ConfigSections.CheckKnownKeys(section, UnixKeys, errors, "unix selectors");
        var ok = true;
        var uid = Id(section, "uid", errors, ref ok);
        var gid = Id(section, "gid", errors, ref ok);
        if (ConfigSections.Value(section, "user") is { } user)
        {
            if (uid is not null)
            {
                errors.Add(section.Path + ":user", "and uid are both given", "keep one of them");
                ok = false;
            }
            else if (UnixNative.UserId(user) is { } resolved)
            {
                uid = resolved;
            }
            else
            {
                errors.Add(section.Path + ":user", $"there is no user '{user}' on this host (user names are resolved when the config loads)", "use an existing user name, or uid: NUMBER");
                ok = false;
            }
        }
        if (ConfigSections.Value(section, "group") is { } group)
        {
            if (gid is not null)
            {
                errors.Add(section.Path + ":group", "and gid are both given", "keep one of them");
                ok = false;
            }
            else if (UnixNative.GroupId(group) is { } resolved)
            {
                gid = resolved;
            }
            else
            {
                errors.Add(section.Path + ":group", $"there is no group '{group}' on this host (group names are resolved when the config loads)", "use an existing group name, or gid: NUMBER");
                ok = false;
            }
        }
        var supplementary = new List<uint>();
        foreach (var entry in ConfigSections.Items(section.GetSection("supplementaryGid")))
        {
            if (uint.TryParse(entry.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                supplementary.Add(value);
            }
            else
            {
                errors.Add(entry.Path, $"'{entry.Value}' is not a group id", "write a number, e.g. supplementaryGid: 2000 (or a list)");
                ok = false;
            }
        }
        foreach (var entry in ConfigSections.Items(section.GetSection("supplementaryGroup")))
        {
            if (UnixNative.GroupId(entry.Value ?? "") is { } value)
            {
                supplementary.Add(value);
            }
            else
            {
                errors.Add(entry.Path, $"there is no group '{entry.Value}' on this host", "use an existing group name, or supplementaryGid: NUMBER");
                ok = false;
            }
        }
        var path = ConfigSections.Value(section, "path");
        if (path is not null && !Path.IsPathRooted(path))
        {
            errors.Add(section.Path + ":path", $"'{path}' is not an absolute path", "write the executable's absolute path as /proc/PID/exe shows it, e.g. /usr/local/bin/worker");
            ok = false;
        }
        var sha256 = ConfigSections.Value(section, "sha256")?.ToLowerInvariant();
        if (sha256 is not null && (sha256.Length != 64 || !sha256.All(Uri.IsHexDigit)))
        {
            errors.Add(section.Path + ":sha256", "is not a SHA-256 in hex (64 characters)", "use the output of sha256sum /path/to/executable");
            ok = false;
        }
        var cgroup = ConfigSections.Value(section, "cgroup");
        if (cgroup is not null && !cgroup.StartsWith('/'))
        {
            errors.Add(section.Path + ":cgroup", $"'{cgroup}' is not a cgroup path", "write a prefix of the path in /proc/PID/cgroup, e.g. /kubepods.slice/");
            ok = false;
        }
        var selectors = new UnixSelectors { Uid = uid, Gid = gid, SupplementaryGids = supplementary, Path = path, Sha256 = sha256, CgroupPrefix = cgroup };
        if (ok && selectors.ToString().Length == 0)
        {
            errors.Add(section.Path, "names no selector, so every local caller would be this identity", "give at least one of " + string.Join(", ", UnixKeys));
            ok = false;
        }
        return ok ? selectors : null;
    }

    private static uint? Id(IConfigurationSection section, string key, ConfigErrorList errors, ref bool ok)
    {
        if (ConfigSections.Value(section, key) is not { } text)
        {
            return null;
        }
        if (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }
        errors.Add(section.Path + ":" + key, $"'{text}' is not a number", $"write the numeric {key}, or use {(key == "uid" ? "user" : "group")}: NAME");
        ok = false;
        return null;
    }
}
