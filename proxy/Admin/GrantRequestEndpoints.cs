using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Approvals;
using SecretlessProxy.Configuration;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// The approvers' side of grant requests, on the admin listener: <c>GET /grants/requests</c> (pending first, then
/// those closed in the last day), <c>GET /grants/requests/{id}</c>, <c>POST /grants/requests/{id}/approve</c> (optional
/// <c>{"note"}</c>; creates the grant) and <c>POST /grants/requests/{id}/deny</c> (<c>{"reason"}</c>). The approver is
/// authenticated: an OIDC ID token (<c>Authorization: Bearer</c>, on any admin listener, validated against
/// <c>approvals.oidc</c>), else the admin listener's own check (admin SVID on mTLS, admin uid on the socket). An open
/// loopback listener's caller is nobody in particular and never approves.
/// </summary>
internal sealed class GrantRequestEndpoints(ApprovalService approvals, IdTokenValidator idTokens, ConfigManager configs)
{
    public const string Prefix = "/grants/requests";

    public static bool Handles(string path) => path == Prefix || path.StartsWith(Prefix + "/", StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext context, ListenerSettings? listener, string path)
    {
        var approver = await AuthenticateAsync(context, listener, path);
        if (approver is null)
        {
            return;
        }
        if (path == Prefix)
        {
            if (await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
            {
                // An ID-token approver is anyone the issuer vouches for: it sees only the requests it may answer.
                var visible = approvals.All.Where(r => approver.Kind != ApproverKind.Oidc || approvals.Lists(r, approver));
                var list = new JsonArray([.. visible.Select(r => (JsonNode)GrantRequestJson.ToJson(r))]);
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, new JsonObject { ["requests"] = list }.ToJsonString());
            }
            return;
        }
        var rest = path[(Prefix.Length + 1)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
            {
                return;
            }
            await (approvals.Find(rest) is { } found && (approver.Kind != ApproverKind.Oidc || approvals.Lists(found, approver))
                ? AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, GrantRequestJson.ToJson(found).ToJsonString())
                : Problem.WriteAsync(context, RefusalCatalog.UnknownGrantRequest, "no grant request with that id (requests closed more than a day ago are forgotten)"));
            return;
        }
        var id = rest[..slash];
        var action = rest[(slash + 1)..];
        if (action is not ("approve" or "deny"))
        {
            await Problem.WriteAsync(context, RefusalCatalog.NoAdminEndpoint, "a grant request takes POST /grants/requests/{id}/approve or /deny");
            return;
        }
        if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Post))
        {
            return;
        }
        var (ok, body) = await GrantRequestJson.ReadOptionalAsync(context);
        if (!ok)
        {
            return;
        }
        if (action == "approve")
        {
            var approved = await approvals.ApproveAsync(id, approver, body is null ? null : AdminJson.String(body, "note"));
            if (approved.Request is null)
            {
                await Problem.WriteAsync(context, approved.Refusal!, approved.Detail);
                return;
            }
            var answer = GrantRequestJson.ToJson(approved.Request);
            answer["grant"] = GrantEndpoints.ToJson(approved.Grant!, approved.Grant!.CreatedAt);
            await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, answer.ToJsonString());
            return;
        }
        var denied = await approvals.DenyAsync(id, approver, body is null ? null : AdminJson.String(body, "reason"));
        await (denied.Request is null
            ? Problem.WriteAsync(context, denied.Refusal!, denied.Detail)
            : AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, GrantRequestJson.ToJson(denied.Request).ToJsonString()));
    }

    /// <summary>The authenticated approver, or null when a refusal was written.</summary>
    private async Task<Approver?> AuthenticateAsync(HttpContext context, ListenerSettings? listener, string path)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            if (configs.Current.Approvals.Oidc is not { } oidc)
            {
                await Problem.WriteAsync(context, RefusalCatalog.ApproverTokenInvalid,
                    "this proxy accepts no ID tokens (approvals.oidc is not configured): approve with an admin SVID or on the admin socket");
                return null;
            }
            var check = await idTokens.ValidateAsync(oidc, header["Bearer ".Length..].Trim(), context.RequestAborted);
            if (check.Approver is null)
            {
                await Problem.WriteAsync(context, check.IssuerUnavailable ? RefusalCatalog.ApproverIssuerUnavailable : RefusalCatalog.ApproverTokenInvalid, check.Problem!);
                return null;
            }
            return check.Approver;
        }
        if (!await AdminAccess.CheckAsync(context, listener, path))
        {
            return null;
        }
        if (AdminApprover(context, listener) is { } admin)
        {
            return admin;
        }
        await Problem.WriteAsync(context, RefusalCatalog.NotAnApprover, OpenLoopbackApproves);
        return null;
    }

    internal const string OpenLoopbackApproves =
        "an open loopback admin listener does not know who calls: approve with an admin SVID (mTLS admin listener), on the admin socket, or with an ID token (Authorization: Bearer)";

    /// <summary>
    /// The admin as an approver, once <see cref="AdminAccess.CheckAsync"/> passed: the admin SVID on an mTLS admin
    /// listener, the admin uid on the admin socket; null on an open loopback listener (nobody in particular).
    /// </summary>
    internal static Approver? AdminApprover(HttpContext context, ListenerSettings? listener) => context.Features.Get<IWorkloadIdentityFeature>() switch
    {
        UnixPeerConnection { Process: { } process } when listener?.AdminUnixAllow is not null =>
            new Approver(ApproverKind.AdminUid, "unix:uid=" + process.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture), [], null, process.Uid),
        { Verification.Identity: { } identity } when listener is { IsHttps: true } => new Approver(ApproverKind.Svid, identity.SpiffeId.Value, [], identity.SpiffeId),
        _ => null,
    };
}
