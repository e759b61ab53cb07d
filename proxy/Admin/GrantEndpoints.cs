using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Grants;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// <c>GET /grants</c> (every grant not yet ended), <c>POST /grants</c> (approve one), <c>GET /grants/{id}</c> and
/// <c>DELETE /grants/{id}</c> (end it early; its credentials are revoked).
/// </summary>
internal sealed class GrantEndpoints(GrantService grants, TimeProvider time)
{
    public async Task HandleAsync(HttpContext context, string path)
    {
        if (path == "/grants")
        {
            if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get, HttpMethods.Post))
            {
                return;
            }
            if (HttpMethods.IsGet(context.Request.Method))
            {
                var now = time.GetUtcNow();
                var list = new JsonArray([.. grants.All.OrderBy(g => g.Until).Select(g => (JsonNode)ToJson(g, now))]);
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, new JsonObject { ["grants"] = list }.ToJsonString());
                return;
            }
            await CreateAsync(context);
            return;
        }
        var id = path["/grants/".Length..];
        if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get, HttpMethods.Delete))
        {
            return;
        }
        if (HttpMethods.IsGet(context.Request.Method))
        {
            var grant = grants.All.FirstOrDefault(g => g.Id == id);
            await (grant is null
                ? NotFoundAsync(context)
                : AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, ToJson(grant, time.GetUtcNow()).ToJsonString()));
            return;
        }
        var ended = await grants.RevokeAsync(id, AdminAccess.Caller(context));
        if (ended is not { } result)
        {
            await NotFoundAsync(context);
            return;
        }
        var answer = ToJson(result.Grant, time.GetUtcNow());
        answer["live"] = false;
        answer["revoked"] = true;
        answer["revokedCredentials"] = new JsonArray([.. result.Revoked.Select(r => (JsonNode)r)]);
        await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, answer.ToJsonString());
    }

    private async Task CreateAsync(HttpContext context)
    {
        var body = await AdminJson.ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var errors = new List<string>();
        var request = new GrantRequest(
            AdminJson.String(body, "identity"),
            AdminJson.String(body, "route"),
            AdminJson.String(body, "credential"),
            Instant(body, "from", errors),
            Duration(body, errors),
            Instant(body, "until", errors),
            AdminJson.String(body, "approver"),
            AdminJson.String(body, "reason"),
            AdminAccess.Caller(context));
        if (errors.Count == 0)
        {
            var (grant, problems, storeFailed) = await grants.CreateAsync(request);
            if (grant is not null)
            {
                context.Response.Headers.Location = "/grants/" + grant.Id;
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status201Created, ToJson(grant, time.GetUtcNow()).ToJsonString());
                return;
            }
            if (storeFailed)
            {
                await Problem.WriteAsync(context, RefusalCatalog.GrantStoreUnavailable, problems[0]);
                return;
            }
            errors.AddRange(problems);
        }
        await Problem.WriteAsync(context, RefusalCatalog.InvalidGrant, string.Join("; ", errors));
    }

    private static DateTimeOffset? Instant(JsonObject body, string name, List<string> errors)
    {
        if (AdminJson.String(body, name) is not { } text)
        {
            return null;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var instant))
        {
            return instant;
        }
        errors.Add($"{name}: not an ISO 8601 instant (e.g. 2026-11-23T10:00:00Z)");
        return null;
    }

    internal static TimeSpan? Duration(JsonObject body, List<string> errors)
    {
        if (AdminJson.String(body, "duration") is not { } text)
        {
            return null;
        }
        if (Configuration.Durations.Parse(text) is { } parsed)
        {
            return parsed;
        }
        if (TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }
        errors.Add("duration: write e.g. 30m, 2h, 90s or 00:30:00");
        return null;
    }

    private static Task NotFoundAsync(HttpContext context) =>
        Problem.WriteAsync(context, RefusalCatalog.UnknownGrant, "no grant with that id is in force (it may have ended)");

    internal static JsonObject ToJson(Grant grant, DateTimeOffset now) => new()
    {
        ["id"] = grant.Id,
        ["identity"] = grant.Identity,
        ["route"] = grant.Route,
        ["credential"] = grant.Credential,
        ["from"] = grant.From,
        ["until"] = grant.Until,
        ["approver"] = grant.Approver,
        ["reason"] = grant.Reason,
        ["createdAt"] = grant.CreatedAt,
        ["createdBy"] = grant.CreatedBy,
        ["live"] = grant.IsLive(now),
    };
}
