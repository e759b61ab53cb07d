using System.Globalization;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Configuration;
using SecretlessProxy.Grants;
using SecretlessProxy.Inventory;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary><c>GET /inventory[?staleDays=N]</c>: the live inventory (see <see cref="InventoryReport"/>); N defaults to 30.</summary>
internal sealed class InventoryEndpoint(ConfigManager configs, GrantService grants, UsageTracker usage, TimeProvider time)
{
    public const int DefaultStaleDays = 30;

    public async Task HandleAsync(HttpContext context)
    {
        if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
        {
            return;
        }
        var staleDays = DefaultStaleDays;
        if (context.Request.Query.TryGetValue("staleDays", out var text)
            && (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out staleDays) || staleDays > 3650))
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidStaleDays, "staleDays is a whole number of days from 0 to 3650");
            return;
        }
        var report = InventoryReport.Build(configs.Current, grants, usage, time.GetUtcNow(), staleDays);
        await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, report.ToJsonString());
    }
}
