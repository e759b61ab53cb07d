using Microsoft.Extensions.Configuration;

namespace SecretlessProxy.Configuration;

/// <summary>Who owns something the config names (<c>owner</c>, <c>team</c> on identities, credentials, routes, stores and classes).</summary>
public sealed record Ownership(string? Owner, string? Team)
{
    public static readonly Ownership None = new(null, null);

    public const int MaxLength = 128;

    /// <summary>True when <paramref name="owner"/> (if given) is the owner and <paramref name="team"/> (if given) the team, case-insensitively.</summary>
    public bool Matches(string? owner, string? team) =>
        (owner is null || string.Equals(Owner, owner, StringComparison.OrdinalIgnoreCase)) && (team is null || string.Equals(Team, team, StringComparison.OrdinalIgnoreCase));

    /// <summary>Reads <c>owner</c> or <c>team</c> under <paramref name="section"/>: one line of printable text, at most <see cref="MaxLength"/> characters.</summary>
    internal static string? Read(IConfigurationSection section, string key, List<(string Key, string Message, string Fix)> problems)
    {
        var child = section.GetSection(key);
        if (child.GetChildren().Any())
        {
            problems.Add((child.Path, "must be one name", key == "owner" ? "write e.g. owner: alice@example.org (a person or a mailbox)" : "write e.g. team: payments"));
            return null;
        }
        var value = ConfigSections.Value(section, key);
        if (value is null)
        {
            return null;
        }
        if (value.Length > MaxLength || value.Any(char.IsControl))
        {
            problems.Add((child.Path, $"must be one line of at most {MaxLength} characters", key == "owner" ? "write e.g. owner: alice@example.org" : "write e.g. team: payments"));
            return null;
        }
        return value;
    }

    internal static Ownership Read(IConfigurationSection section, ConfigErrorList errors)
    {
        var problems = new List<(string, string, string)>();
        var owner = Read(section, "owner", problems);
        var team = Read(section, "team", problems);
        foreach (var (key, message, fix) in problems)
        {
            errors.Add(key, message, fix);
        }
        return owner is null && team is null ? None : new Ownership(owner, team);
    }
}
