using System.Globalization;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Configuration;
using SecretlessProxy.Grants;
using SecretlessProxy.Inventory;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// <c>GET /inventory[?staleDays=N][&amp;owner=X][&amp;team=T]</c>: the live inventory (see <see cref="InventoryReport"/>); N defaults to 30.
/// <c>GET /inventory/reconcile[?unusedDays=N][&amp;format=json|csv|table][&amp;owner=X][&amp;team=T]</c>: the reconciliation report
/// (see <see cref="ReconcileReport"/>), with every replica's usage when Redis is configured.
/// </summary>
internal sealed class InventoryEndpoint(ConfigManager configs, GrantService grants, UsageTracker usage, UsageStore store, SecretLedger ledger, TimeProvider time)
{
    public const int DefaultStaleDays = 30;

    public async Task HandleAsync(HttpContext context, string path = "/inventory")
    {
        if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
        {
            return;
        }
        if (path is not ("/inventory" or "/inventory/reconcile"))
        {
            await Problem.WriteAsync(context, RefusalCatalog.NoAdminEndpoint, "the inventory is at /inventory and /inventory/reconcile");
            return;
        }
        var query = context.Request.Query;
        string? Name(string key) => query.TryGetValue(key, out var v) && v.ToString() is { Length: > 0 } value ? value : null;
        var owner = Name("owner");
        var team = Name("team");
        if ((owner?.Length ?? 0) > Ownership.MaxLength || (team?.Length ?? 0) > Ownership.MaxLength)
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidInventoryQuery, $"owner and team are at most {Ownership.MaxLength} characters");
            return;
        }
        var config = configs.Current;
        var now = time.GetUtcNow();
        var shared = await store.ReadAsync() ?? UsageSnapshot.Of(usage, ledger);
        if (path == "/inventory")
        {
            var staleDays = DefaultStaleDays;
            if (query.TryGetValue("staleDays", out var text)
                && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out staleDays) || staleDays > 3650))
            {
                await Problem.WriteAsync(context, RefusalCatalog.InvalidStaleDays, "staleDays is a whole number of days from 0 to 3650");
                return;
            }
            var report = InventoryReport.Build(config, grants, usage, now, staleDays, shared, owner, team);
            await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, report.ToJsonString());
            return;
        }

        var unusedDays = DefaultStaleDays;
        if (query.TryGetValue("unusedDays", out var days)
            && (!int.TryParse(days, NumberStyles.None, CultureInfo.InvariantCulture, out unusedDays) || unusedDays > 3650))
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidInventoryQuery, "unusedDays is a whole number of days from 0 to 3650");
            return;
        }
        var format = Name("format") ?? "json";
        if (format is not ("json" or "csv" or "table"))
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidInventoryQuery, "format is json, csv or table");
            return;
        }
        var findings = ReconcileReport.OwnedBy(ReconcileReport.Find(config, shared, now, unusedDays), owner, team);
        switch (format)
        {
            case "csv":
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, ReconcileReport.Csv(findings), "text/csv; charset=utf-8");
                return;
            case "table":
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, ReconcileReport.Table(findings, shared), "text/plain; charset=utf-8");
                return;
            default:
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, ReconcileReport.Json(findings, shared, now, unusedDays).ToJsonString());
                return;
        }
    }
}
