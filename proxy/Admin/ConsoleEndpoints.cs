using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Primitives;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Approvals;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Grants;
using SecretlessProxy.Inventory;
using SecretlessProxy.Listeners;
using SecretlessProxy.Metrics;
using SecretlessProxy.Redis;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Admin;

/// <summary>
/// The web console on the admin listener (<c>/console</c>): pending access requests with approve and deny, live
/// grants with revoke, the inventory with its reconciliation findings, recent decisions with filters, and the health
/// of caches and issuers. Server-rendered HTML without script, behind the admin API's own authentication (the caller
/// already passed <see cref="AdminAccess.CheckAsync"/>); it renders the same JSON the API answers, so no secret can
/// reach a page. Forms are refused when the listener's console is read-only, when the caller is nobody in particular
/// (an open loopback listener), and when the POST does not come from the console's own origin (a client certificate is
/// sent by the browser to any page that asks, so another site's form must not be able to approve).
/// </summary>
internal sealed class ConsoleEndpoints(ConfigManager configs, ApprovalService approvals, GrantService grants, UsageTracker usage, UsageStore usageStore, SecretLedger ledger,
    DecisionLog audit, ProxyMetrics metrics, RedisConnection redis, IHostApplicationLifetime lifetime, TimeProvider time)
{
    public const string Prefix = "/console";

    /// <summary>The most decision records a page lists.</summary>
    private const int DecisionRows = 200;

    private const long MaxFormBytes = 16 * 1024;

    public static bool Handles(string path) => path == Prefix || path.StartsWith(Prefix + "/", StringComparison.Ordinal);

    public async Task HandleAsync(HttpContext context, ListenerSettings? listener, string path)
    {
        var mode = listener?.Console ?? ConsoleMode.Off;
        if (mode == ConsoleMode.Off)
        {
            await Problem.WriteAsync(context, RefusalCatalog.NoAdminEndpoint, "the console is off on this admin listener (console: off)");
            return;
        }
        // Nobody in particular calls an open loopback listener: it may look, never answer.
        var readOnly = mode == ConsoleMode.ReadOnly || GrantRequestEndpoints.AdminApprover(context, listener) is null;
        if (path == Prefix + "/style.css")
        {
            if (await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
            {
                Headers(context);
                await AdminEndpoints.WriteAsync(context, StatusCodes.Status200OK, ConsoleHtml.Style, "text/css; charset=utf-8");
            }
            return;
        }
        if (HttpMethods.IsPost(context.Request.Method))
        {
            await PostAsync(context, listener, path, readOnly);
            return;
        }
        if (!await AdminEndpoints.RequireMethodAsync(context, HttpMethods.Get))
        {
            return;
        }
        var notice = context.Request.Query["notice"].ToString() is { Length: > 0 and <= 200 } text ? text : null;
        await RenderAsync(context, path, StatusCodes.Status200OK, notice, null, readOnly);
    }

    private async Task RenderAsync(HttpContext context, string path, int status, string? notice, string? error, bool readOnly)
    {
        var now = time.GetUtcNow();
        (string Title, string Body)? page = path switch
        {
            Prefix or Prefix + "/" => ("Overview", Overview(now)),
            Prefix + "/requests" => ("Access requests", Requests(readOnly)),
            Prefix + "/grants" => ("Grants", Grants(now, readOnly)),
            Prefix + "/inventory" => ("Inventory", await InventoryAsync(now)),
            Prefix + "/decisions" => ("Decisions", Decisions(context.Request.Query)),
            _ => null,
        };
        if (page is not { } found)
        {
            await Problem.WriteAsync(context, RefusalCatalog.NoAdminEndpoint, "the console has /console, /console/requests, /console/grants, /console/inventory and /console/decisions");
            return;
        }
        var pending = approvals.All.Count(r => r.Status == ApprovalStatus.Pending);
        var live = grants.All.Count(g => g.IsLive(now));
        var current = path == Prefix + "/" ? Prefix : path;
        Headers(context);
        await AdminEndpoints.WriteAsync(context, status, ConsoleHtml.Page(found.Title, current, found.Body, notice, error, pending, live, readOnly), "text/html; charset=utf-8");
    }

    private static void Headers(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ConsoleHtml.ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        // Not no-referrer: under it Chromium sends "Origin: null" with the console's own forms.
        headers["Referrer-Policy"] = "same-origin";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
    }

    // ---- forms -------------------------------------------------------------------------------------------------

    private async Task PostAsync(HttpContext context, ListenerSettings? listener, string path, bool readOnly)
    {
        if (readOnly)
        {
            await Problem.WriteAsync(context, RefusalCatalog.ConsoleReadOnly, listener?.Console == ConsoleMode.ReadOnly
                ? "this admin listener's console is read-only (console: read-only): use the admin API, or a console that is not"
                : GrantRequestEndpoints.OpenLoopbackApproves);
            return;
        }
        if (!SameOrigin(context.Request))
        {
            await Problem.WriteAsync(context, RefusalCatalog.ConsoleCrossOrigin,
                "a console form is accepted only from the console's own pages (Origin or Sec-Fetch-Site must say so); scripts use the admin API");
            return;
        }
        var form = await ReadFormAsync(context);
        if (form is null)
        {
            return;
        }
        var parts = path[Prefix.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts is ["requests", var requestId, var action] && action is "approve" or "deny")
        {
            var approver = GrantRequestEndpoints.AdminApprover(context, listener)!;
            var outcome = action == "approve"
                ? await approvals.ApproveAsync(requestId, approver, Field(form, "note"))
                : await approvals.DenyAsync(requestId, approver, Field(form, "reason"));
            await (outcome.Request is { } done
                ? SeeOtherAsync(context, "/requests", action == "approve" ? $"Approved {done.Id}: grant {done.GrantId} is live." : $"Denied {done.Id}.")
                : FailedAsync(context, "/requests", outcome.Refusal!, outcome.Detail));
            return;
        }
        if (parts is ["grants", var grantId, "revoke"])
        {
            var ended = await grants.RevokeAsync(grantId, AdminAccess.Caller(context));
            await (ended is { } result
                ? SeeOtherAsync(context, "/grants", $"Revoked {result.Grant.Id}" + (result.Revoked.Count > 0 ? $"; credentials revoked: {string.Join(", ", result.Revoked)}." : "."))
                : FailedAsync(context, "/grants", RefusalCatalog.UnknownGrant, "no grant with that id is in force (it may have ended)"));
            return;
        }
        await Problem.WriteAsync(context, RefusalCatalog.NoAdminEndpoint, "the console's forms post to /console/requests/{id}/approve, /deny and /console/grants/{id}/revoke");
    }

    /// <summary>
    /// True when the browser says the form came from this origin: <c>Origin</c> equal to the request's own, else (no
    /// <c>Origin</c>, or the opaque <c>null</c>) <c>Sec-Fetch-Site: same-origin</c>. Neither (a script, an old browser) is refused: the API serves scripts.
    /// </summary>
    internal static bool SameOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        // "null" is an opaque origin (a sandboxed frame, a privacy setting): then only Sec-Fetch-Site can tell.
        if (origin.Length > 0 && origin != "null")
        {
            return string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);
        }
        return request.Headers["Sec-Fetch-Site"].ToString() == "same-origin";
    }

    private static async Task<IFormCollection?> ReadFormAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType || context.Request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) != true)
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidGrantRequest, "a console form is application/x-www-form-urlencoded");
            return null;
        }
        if (context.Request.ContentLength > MaxFormBytes)
        {
            await Problem.WriteAsync(context, RefusalCatalog.PayloadTooLarge, $"a console form is at most {MaxFormBytes / 1024} KiB");
            return null;
        }
        context.Features.Set<IFormFeature>(new FormFeature(context.Request, new FormOptions { ValueCountLimit = 8, KeyLengthLimit = 64, ValueLengthLimit = 4096, BufferBody = false }));
        try
        {
            return await context.Request.ReadFormAsync(context.RequestAborted);
        }
        catch (InvalidDataException)
        {
            await Problem.WriteAsync(context, RefusalCatalog.InvalidGrantRequest, "the form is malformed or over its limits (8 fields, 4 KiB each)");
            return null;
        }
    }

    private static string? Field(IFormCollection form, string name) => form.TryGetValue(name, out var value) && value.ToString() is { Length: > 0 } text ? text : null;

    private static Task SeeOtherAsync(HttpContext context, string page, string notice)
    {
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Location = Prefix + page + "?notice=" + Uri.EscapeDataString(notice);
        return Task.CompletedTask;
    }

    /// <summary>A refused form: the page again, with the refusal's status and what it said.</summary>
    private Task FailedAsync(HttpContext context, string page, Refusal refusal, string detail) =>
        RenderAsync(context, Prefix + page, refusal.Status, null, $"{refusal.Title} ({refusal.Reason}): {detail}", readOnly: false);

    // ---- pages -------------------------------------------------------------------------------------------------

    private string Overview(DateTimeOffset now)
    {
        var config = configs.Current;
        var html = new ConsoleHtml();
        var started = lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested;
        var waiting = config.WorkloadApi?.NotReadyReason;
        html.Element("h2", "Health").Facts(
        [
            ("ready", started && waiting is null ? "yes" : "no: " + (waiting ?? "the listeners are not up yet (or the proxy is stopping)")),
            ("config", config.Summary),
            ("config generation", configs.Generation.ToString(CultureInfo.InvariantCulture)),
            ("reloads refused", configs.Refusals.ToString(CultureInfo.InvariantCulture)),
            ("redis", !redis.IsConfigured ? "not configured" : redis.IsAvailable ? "connected" : "unreachable"),
            ("audit", $"{audit.Written} written, {audit.Dropped} dropped, {audit.Queued} queued"),
            ("grants store", grants.StoreLocation ?? "memory"),
            ("requests store", approvals.StoreLocation),
        ], "health");
        var credentials = new JsonArray();
        foreach (var binding in config.Credentials.Values.OrderBy(b => b.Name, StringComparer.Ordinal))
        {
            var (cached, next) = binding.CacheSummary(now);
            credentials.Add(new JsonObject
            {
                ["credential"] = binding.Name,
                ["provider"] = binding.ProviderName,
                ["store"] = binding.Store.Length > 0 ? binding.Store : null,
                ["class"] = binding.Class?.Name,
                ["static"] = binding.IssuesStaticSecrets ? "yes" : "",
                ["issuer circuit"] = binding.Provider is IReportsCircuitState circuit ? circuit.CircuitState switch
                {
                    CircuitState.Closed => "closed",
                    CircuitState.HalfOpen => "half-open",
                    CircuitState.Open => "open",
                    _ => "isolated",
                } : "",
                ["cached"] = cached,
                ["next expiry"] = next,
            });
        }
        html.Element("h2", "Credentials and their issuers").Table(credentials, "No credential is configured.", "credentials");
        var fetches = new JsonArray([.. metrics.TokenFetchCounts().Select(f => (JsonNode)new JsonObject { ["provider"] = f.Provider, ["result"] = f.Result, ["count"] = f.Count })]);
        html.Element("h2", "Fetches from issuers since start").Table(fetches, "No credential has been fetched yet.", "fetches");
        var listeners = new JsonArray([.. config.Listeners.Select(l => (JsonNode)new JsonObject
        {
            ["listener"] = l.Name,
            ["url"] = l.Url,
            ["role"] = l.Role == ListenerRole.Admin ? "admin" : "proxy",
            ["protocol"] = l.Protocol.ToString().ToLowerInvariant(),
            ["callers"] = l.Role == ListenerRole.Admin || l.Attestor is not { } kind ? (l.Bearer is null ? null : "bearer") : Identity.AttestationKinds.Name(kind),
        })]);
        return html.Element("h2", "Listeners").Table(listeners, "No listener.", "listeners").ToString();
    }

    private string Requests(bool readOnly)
    {
        var requests = approvals.All;
        var html = new ConsoleHtml();
        string Actions(JsonObject row)
        {
            var id = ConsoleHtml.Encode(ConsoleHtml.Cell(row["id"]));
            return $"<form class=\"inline\" method=\"post\" action=\"/console/requests/{id}/approve\"><input type=\"text\" name=\"note\" placeholder=\"note (optional)\" maxlength=\"500\" aria-label=\"note\"><button class=\"approve\" type=\"submit\">Approve</button></form>"
                + $"<form class=\"inline\" method=\"post\" action=\"/console/requests/{id}/deny\"><input type=\"text\" name=\"reason\" placeholder=\"reason (required)\" maxlength=\"500\" required aria-label=\"reason\"><button class=\"deny\" type=\"submit\">Deny</button></form>";
        }
        string[] columns = ["id", "identity", "route", "credential", "duration", "reason", "rules", "createdAt", "expiresAt"];
        html.Element("h2", "Pending").Table(Json(requests.Where(r => r.Status == ApprovalStatus.Pending)), "No request is waiting for an answer.", "pending", readOnly ? null : Actions, columns);
        html.Element("h2", "Answered or expired (last day)").Table(Json(requests.Where(r => r.Status != ApprovalStatus.Pending)), "None.", "closed",
            columns: ["id", "status", "identity", "route", "credential", "duration", "reason", "decidedBy", "decidedAt", "decisionReason", "grant"]);
        return html.ToString();

        static JsonArray Json(IEnumerable<ApprovalRequest> list) => new([.. list.Select(r => (JsonNode)GrantRequestJson.ToJson(r))]);
    }

    private string Grants(DateTimeOffset now, bool readOnly)
    {
        var html = new ConsoleHtml();
        var all = grants.All.OrderBy(g => g.Until).ToList();
        static string Revoke(JsonObject row) =>
            $"<form class=\"inline\" method=\"post\" action=\"/console/grants/{ConsoleHtml.Encode(ConsoleHtml.Cell(row["id"]))}/revoke\"><button class=\"revoke\" type=\"submit\">Revoke</button></form>";
        string[] columns = ["id", "identity", "route", "credential", "from", "until", "approver", "reason", "createdBy"];
        html.Element("h2", "Live").Table(new JsonArray([.. all.Where(g => g.IsLive(now)).Select(g => (JsonNode)GrantEndpoints.ToJson(g, now))]), "No grant is live.", "live", readOnly ? null : Revoke, columns);
        html.Element("h2", "Starting later").Table(new JsonArray([.. all.Where(g => g.From > now).Select(g => (JsonNode)GrantEndpoints.ToJson(g, now))]), "None.", "future", readOnly ? null : Revoke, columns);
        return html.ToString();
    }

    private async Task<string> InventoryAsync(DateTimeOffset now)
    {
        var config = configs.Current;
        var shared = await usageStore.ReadAsync() ?? UsageSnapshot.Of(usage, ledger);
        var report = InventoryReport.Build(config, grants, usage, now, InventoryEndpoint.DefaultStaleDays, shared, null, null);
        var findings = ReconcileReport.Json(ReconcileReport.Find(config, shared, now, InventoryEndpoint.DefaultStaleDays), shared, now, InventoryEndpoint.DefaultStaleDays);
        var html = new ConsoleHtml();
        html.Element("p", $"Usage from {ConsoleHtml.Cell(report["usageSource"])}, tracked since {ConsoleHtml.Cell(report["trackingSince"])}. The same report is GET /inventory and GET /inventory/reconcile.", "class=\"empty\"");
        html.Element("h2", "Reconciliation findings").Table(findings["findings"] as JsonArray, "No finding: every access path is used, owned and single.", "findings",
            columns: ["kind", "subject", "detail", "owner", "team", "lastUse", "related"]);
        html.Element("h2", "Identities").Table(report["identities"] as JsonArray, "No identity is configured or seen.", "identities",
            columns: ["identity", "name", "owner", "team", "lastSeen", "allowed", "denied", "mayUse", "used"]);
        html.Element("h2", "Secrets").Table(report["secrets"] as JsonArray, "No secret is configured.", "secrets",
            columns: ["credential", "provider", "store", "path", "class", "owner", "team", "static", "consumers", "lastUse", "lastFetch", "leaseId", "version", "ageDays", "duplicateOf"]);
        foreach (var (key, title) in new[] { ("stores", "Stores"), ("classes", "Secret classes"), ("duplicatedAccessPaths", "Duplicated access paths"), ("parallelAccessPaths", "Parallel access paths"),
            ("staleAllowRules", "Stale allow rules"), ("deniedIdentities", "Denied identities"), ("staticCredentialsInUse", "Static credentials in use") })
        {
            if (report[key] is JsonArray list)
            {
                html.Element("h2", title).Table(list, "None.", key);
            }
        }
        return html.ToString();
    }

    private string Decisions(IQueryCollection query)
    {
        string? Filter(string key) => query[key].ToString() is { Length: > 0 and <= 256 } value ? value : null;
        var identity = Filter("identity");
        var route = Filter("route");
        var outcome = Filter("outcome");
        var reason = Filter("reason");
        var rows = new JsonArray();
        foreach (var line in audit.RecentDecisions.Reverse())
        {
            if (rows.Count == DecisionRows)
            {
                break;
            }
            if (JsonNode.Parse(line) is not JsonObject record)
            {
                continue;
            }
            static string Of(JsonObject r, string key) => ConsoleHtml.Cell(r[key]);
            var target = record["route"] ?? record["database"];
            if ((identity is not null && !Of(record, "identity").Contains(identity, StringComparison.OrdinalIgnoreCase))
                || (route is not null && !string.Equals(ConsoleHtml.Cell(target), route, StringComparison.OrdinalIgnoreCase))
                || (outcome is not null && !string.Equals(Of(record, "outcome"), outcome, StringComparison.OrdinalIgnoreCase))
                || (reason is not null && !string.Equals(Of(record, "reason"), reason, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }
            rows.Add(new JsonObject
            {
                ["time"] = record["time"]?.DeepClone(),
                ["identity"] = record["identity"]?.DeepClone(),
                ["route"] = target?.DeepClone(),
                ["method"] = (record["method"] ?? record["role"])?.DeepClone(),
                ["path"] = record["pathTemplate"]?.DeepClone(),
                ["mcp"] = record["mcp"] is JsonObject mcp ? $"{ConsoleHtml.Cell(mcp["method"])} {ConsoleHtml.Cell(mcp["tool"])}".Trim() : null,
                ["rule"] = record["rule"]?.DeepClone(),
                ["outcome"] = record["outcome"]?.DeepClone(),
                ["reason"] = record["reason"]?.DeepClone(),
                ["credential"] = record["credential"]?.DeepClone(),
                ["upstream status"] = record["upstreamStatus"]?.DeepClone(),
            });
        }
        var html = new ConsoleHtml();
        html.Raw("<form class=\"filters\" method=\"get\" action=\"/console/decisions\">");
        foreach (var (name, value) in new[] { ("identity", identity), ("route", route), ("outcome", outcome), ("reason", reason) })
        {
            html.Raw($"<input type=\"text\" {ConsoleHtml.Attribute("name", name)} {ConsoleHtml.Attribute("placeholder", name)} {ConsoleHtml.Attribute("aria-label", name)} {ConsoleHtml.Attribute("value", value)}>");
        }
        html.Raw("<button type=\"submit\">Filter</button></form>");
        html.Element("p", $"The newest {DecisionRows} matching of the last {DecisionLog.RecentCapacity} decisions on this replica (the audit trail keeps them all).", "class=\"empty\"");
        return html.Table(rows, "No decision matches.", "decisions").ToString();
    }
}
