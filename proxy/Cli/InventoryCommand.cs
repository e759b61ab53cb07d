using System.CommandLine;
using SecretlessProxy.Inventory;

namespace SecretlessProxy.Cli;

/// <summary><c>inventory --config FILE</c>: the policy-derived access paths as a table, without a running proxy.</summary>
internal static class InventoryCommand
{
    public static Command Build(TextWriter output, TextWriter error) => CliApp.OfflineConfigCommand("inventory",
        "Print every access path the policy opens or closes (identity, route, rule, conditions, credential) as a table, from the config alone",
        error, warnings: null, (_, compiled) => output.WriteAsync(Table(PolicyInventory.Paths(compiled, compiled.IdentityNames))));

    internal static string Table(IReadOnlyList<AccessPath> rows)
    {
        string[] header = ["IDENTITY", "ROUTE", "EFFECT", "RULE", "METHODS", "PATHS", "SCHEDULE", "GRANT", "CREDENTIAL"];
        var cells = rows.Select(r => new[]
        {
            r.IdentityName is null ? r.Identity : $"{r.IdentityName} ({r.Identity})",
            r.Route,
            r.IsDeny ? "deny" : "allow",
            r.Rule,
            r.Methods ?? "any",
            r.Paths ?? "any",
            r.Schedule ?? "always",
            r.RequiresGrant ? "required" : "-",
            r.Credential is null ? "-" : $"{r.Credential} ({r.Provider}{(r.StaticCredential == true ? ", static" : "")})",
        }).ToList();
        var widths = header.Select((h, i) => cells.Select(c => c[i].Length).Append(h.Length).Max()).ToArray();
        var text = new System.Text.StringBuilder();
        void Line(string[] values) => text.AppendLine(string.Join("  ", values.Select((v, i) => i == values.Length - 1 ? v : v.PadRight(widths[i]))).TrimEnd());
        Line(header);
        foreach (var row in cells)
        {
            Line(row);
        }
        text.AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"{rows.Count} access path(s); {rows.Count(r => r.StaticCredential == true && !r.IsDeny)} use a static credential; {rows.Count(r => r.RequiresGrant)} need a grant");
        return text.ToString();
    }
}
