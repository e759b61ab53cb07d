using System.Globalization;
using System.Text.Json.Nodes;
using SecretlessProxy.Approvals;

namespace SecretlessProxy.Admin;

/// <summary>A grant request as the requester and the approvers read it (no secret: names, times, reasons).</summary>
internal static class GrantRequestJson
{
    public static JsonObject ToJson(ApprovalRequest request) => new()
    {
        ["id"] = request.Id,
        ["status"] = request.StatusName,
        ["identity"] = request.Requester,
        ["attestation"] = request.Attestation,
        ["route"] = request.Route,
        ["credential"] = request.Credential,
        ["duration"] = request.Duration.ToString("c", CultureInfo.InvariantCulture),
        ["reason"] = request.Reason,
        ["rules"] = new JsonArray([.. request.Rules.Select(r => (JsonNode)r)]),
        ["createdAt"] = request.CreatedAt,
        ["expiresAt"] = request.ExpiresAt,
        ["decidedBy"] = request.DecidedBy,
        ["decidedByKind"] = request.DecidedByKind,
        ["decidedAt"] = request.DecidedAt,
        ["decisionReason"] = request.DecisionReason,
        ["grant"] = request.GrantId,
    };

    /// <summary>An optional JSON object body: null without a body (an approval needs none), else as <see cref="AdminJson.ReadObjectAsync"/>.</summary>
    public static async Task<(bool Ok, JsonObject? Body)> ReadOptionalAsync(Microsoft.AspNetCore.Http.HttpContext context)
    {
        if (context.Request.ContentLength is 0 || (context.Request.ContentLength is null && context.Request.Headers.TransferEncoding.Count == 0))
        {
            return (true, null);
        }
        var body = await AdminJson.ReadObjectAsync(context);
        return (body is not null, body);
    }
}
