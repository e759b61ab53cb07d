using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using SecretlessProxy.Approvals;
using SecretlessProxy.Audit;
using SecretlessProxy.Identity;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// The workload's side of grants, on the proxy's own caller listeners (mTLS, Unix socket, loopback), served there
/// whenever some rule lists <c>approvers</c>: the caller is the identity its listener attested, never a name in the
/// body. <c>POST /grants/requests</c> (<c>route</c> or <c>credential</c>, <c>duration</c>, <c>reason</c>) asks;
/// <c>GET /grants/requests/{id}</c> reads one's own request; <c>GET /grants</c> lists one's own grants; and
/// <c>POST /grants/{id}/end</c> or <c>DELETE /grants/{id}</c> ends one's own grant early, revoking what was issued under it.
/// </summary>
internal sealed class WorkloadGrantEndpoints(ApprovalService approvals, TimeProvider time)
{
    private const string Requests = "/grants/requests";

    public static bool Handles(string path) => path == "/grants" || path.StartsWith("/grants/", StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext context, WorkloadIdentity caller, string path)
    {
        var record = context.Features.Get<DecisionRecord>();
        if (record is not null)
        {
            // Refusals set their own outcome and reason; these requests reach no upstream.
            record.Outcome = DecisionRecord.Allow;
            record.Reason = "allowed";
        }
        if (path == "/grants")
        {
            SetTemplate(record, "/grants");
            if (await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
            {
                var now = time.GetUtcNow();
                var grants = new JsonArray([.. approvals.GrantsOf(caller).Select(g => (JsonNode)GrantEndpoints.ToJson(g, now))]);
                var requests = new JsonArray([.. approvals.All.Where(r => r.Requester == caller.SpiffeId.Value).Select(r => (JsonNode)GrantRequestJson.ToJson(r))]);
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, new JsonObject { ["grants"] = grants, ["requests"] = requests }.ToJsonString());
            }
            return;
        }
        if (path == Requests)
        {
            SetTemplate(record, Requests);
            if (await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Post))
            {
                await SubmitAsync(context, caller);
            }
            return;
        }
        if (path.StartsWith(Requests + "/", StringComparison.Ordinal))
        {
            SetTemplate(record, Requests + "/{id}");
            if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
            {
                return;
            }
            var request = approvals.Find(path[(Requests.Length + 1)..]);
            await (request is not null && request.Requester == caller.SpiffeId.Value
                ? AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, GrantRequestJson.ToJson(request).ToJsonString())
                : Problem.WriteAsync(context, RefusalCatalog.UnknownGrantRequest, "you have no grant request with that id (closed ones are kept a day)", identity: caller.SpiffeId.Value));
            return;
        }
        var rest = path["/grants/".Length..];
        string id;
        if (rest.EndsWith("/end", StringComparison.Ordinal))
        {
            SetTemplate(record, "/grants/{id}/end");
            id = rest[..^"/end".Length];
            if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Post))
            {
                return;
            }
        }
        else
        {
            SetTemplate(record, "/grants/{id}");
            id = rest;
            if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Delete))
            {
                return;
            }
        }
        if (id.Length == 0 || id.Contains('/', StringComparison.Ordinal) || await approvals.EndOwnGrantAsync(caller, id) is not { } ended)
        {
            await Problem.WriteAsync(context, RefusalCatalog.UnknownGrant, "you hold no grant with that id in force (it may have ended)", identity: caller.SpiffeId.Value);
            return;
        }
        var answer = GrantEndpoints.ToJson(ended.Grant, time.GetUtcNow());
        answer["live"] = false;
        answer["revoked"] = true;
        answer["revokedCredentials"] = new JsonArray([.. ended.Revoked.Select(r => (JsonNode)r)]);
        await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, answer.ToJsonString());
    }

    private async Task SubmitAsync(HttpContext context, WorkloadIdentity caller)
    {
        var body = await AdminJson.ReadObjectAsync(context);
        if (body is null)
        {
            return;
        }
        var errors = new List<string>();
        var duration = GrantEndpoints.Duration(body, errors);
        var uid = context.Features.Get<IWorkloadIdentityFeature>() is UnixPeerConnection { Process: { } process } ? process.Uid : (uint?)null;
        var outcome = await approvals.SubmitAsync(caller, uid, AdminJson.String(body, "route"), AdminJson.String(body, "credential"), duration, AdminJson.String(body, "reason"), errors);
        if (outcome.Request is not { } request)
        {
            await Problem.WriteAsync(context, outcome.Refusal!, outcome.Detail, identity: caller.SpiffeId.Value);
            return;
        }
        context.Response.Headers.Location = Requests + "/" + request.Id;
        await AdminEndpoints.WriteAsync(context, StatusCodes.Status201Created, GrantRequestJson.ToJson(request).ToJsonString());
    }

    private static void SetTemplate(DecisionRecord? record, string template)
    {
        if (record is not null)
        {
            record.PathTemplate = template;
        }
    }
}
