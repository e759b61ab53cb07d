using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Grants;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Approvals;

/// <summary>The outcome of a request, an approval or a denial: the request as it now stands, or why not.</summary>
public sealed record ApprovalOutcome(ApprovalRequest? Request, Refusal? Refusal, string Detail, Grant? Grant = null)
{
    public static ApprovalOutcome Refused(Refusal refusal, string detail) => new(null, refusal, detail);
}

/// <summary>
/// Grant requests: a workload asks with its own attested identity (<c>POST /grants/requests</c> on its listener);
/// the request waits for an approver listed by every rule it would open (<c>approvers</c>), who is authenticated
/// (admin SVID, admin socket uid, or OIDC ID token) and is never the requester (four eyes); an approval creates a
/// real grant through <see cref="GrantService"/> with the approver's authenticated name, a denial closes it with a
/// reason, and unanswered requests expire (<c>approvals.requestTtl</c>). Each step is in the audit trail and announced
/// on the webhook. Requests are kept in memory; when grants are kept in Redis, requests are too
/// (<see cref="RedisRequestStore"/>), so any replica takes, lists and answers them, and a decision is taken under a
/// lock per request. Closed requests are kept a day for their requesters to read.
/// </summary>
public sealed partial class ApprovalService(Func<IApprovalScope> scope, GrantService grants, ApprovalWebhook webhook, DecisionLog audit, TimeProvider time, ILogger<ApprovalService> logger,
    Redis.RedisConnection? redis = null)
    : IDisposable
{
    /// <summary>A shared store is read again every this many checks (and at each check until it was read once).</summary>
    private const int ReloadEveryChecks = 10;

    /// <summary>A request made here so recently may not be in a load that was read before it was written: kept.</summary>
    private static readonly TimeSpan FreshlyMade = TimeSpan.FromSeconds(30);

    private RedisRequestStore? _store;
    private bool _loaded;
    private long _checks;
    private int _checking;
    /// <summary>How long a closed request stays readable.</summary>
    internal static readonly TimeSpan KeepClosed = TimeSpan.FromHours(24);

    /// <summary>Requests kept at most (pending and closed), so a flood of requests cannot grow memory without bound.</summary>
    internal const int MaxRequests = 10_000;

    internal const int MaxReasonLength = 500;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ApprovalRequest> _requests = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _deciding = new(1, 1);
    private ITimer? _timer;

    /// <summary>Starts the expiry check (once a second unless told otherwise).</summary>
    public void Start(TimeSpan? interval = null)
    {
        var config = scope();
        if (redis is not null && config.Grants.Store == GrantStoreKind.Redis && config.Cache.Redis is { } shared)
        {
            _store = new RedisRequestStore(redis, shared.KeyPrefix, shared.Keys);
            _store.OnChangedElsewhere(() => _ = ReloadAsync());
        }
        var every = interval ?? TimeSpan.FromSeconds(1);
        _timer = time.CreateTimer(_ => _ = CheckAsync(), null, every, every);
    }

    /// <summary>Where requests are kept, for the admin API and logs: <c>memory</c> or the Redis key.</summary>
    public string StoreLocation => _store?.Location ?? "memory";

    private async Task CheckAsync()
    {
        // One check at a time: a slow Redis must not pile checks up.
        if (Interlocked.Exchange(ref _checking, 1) == 1)
        {
            return;
        }
        try
        {
            var check = Interlocked.Increment(ref _checks);
            if (_store is not null && (!_loaded || check % ReloadEveryChecks == 0))
            {
                await ReloadAsync();
            }
            await ExpireDueAsync();
        }
        finally
        {
            Volatile.Write(ref _checking, 0);
        }
    }

    /// <summary>Reads the shared requests again (another replica changed them, or it is time to).</summary>
    internal async Task ReloadAsync()
    {
        if (_store is null)
        {
            return;
        }
        try
        {
            var stored = await _store.LoadAsync();
            var now = time.GetUtcNow();
            lock (_gate)
            {
                var ids = stored.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
                foreach (var gone in _requests.Values.Where(r => !ids.Contains(r.Id) && now - r.CreatedAt > FreshlyMade).Select(r => r.Id).ToList())
                {
                    _requests.Remove(gone);
                }
                foreach (var request in stored)
                {
                    _requests[request.Id] = request;
                }
            }
            if (!_loaded)
            {
                Log.SharedLoaded(logger, stored.Count, _store.Location);
            }
            _loaded = true;
        }
        catch (IOException ex)
        {
            if (_loaded || Interlocked.Read(ref _checks) <= 1)
            {
                Log.SharedLoadFailed(logger, _store.Location, ex.Message);
            }
        }
    }

    /// <summary>Every request kept (pending first, then the most recent).</summary>
    public IReadOnlyList<ApprovalRequest> All
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests.Values.OrderBy(r => r.Status == ApprovalStatus.Pending ? 0 : 1).ThenByDescending(r => r.CreatedAt)];
            }
        }
    }

    public ApprovalRequest? Find(string id)
    {
        lock (_gate)
        {
            return _requests.GetValueOrDefault(id);
        }
    }

    /// <summary>A workload asks for a grant. <paramref name="errors"/> holds what the endpoint already found wrong with the body.</summary>
    public async Task<ApprovalOutcome> SubmitAsync(WorkloadIdentity caller, uint? callerUid, string? route, string? credential, TimeSpan? duration, string? reason, ICollection<string> errors)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(errors);
        var config = scope();
        var now = time.GetUtcNow();
        string? canonicalRoute = null;
        string? canonicalCredential = null;
        if ((route is null) == (credential is null))
        {
            errors.Add("route or credential: give exactly one (the route you need, or a credential whose routes you need)");
        }
        else if (route is not null)
        {
            canonicalRoute = config.Routes.FirstOrDefault(r => string.Equals(r.RouteId, route, StringComparison.OrdinalIgnoreCase))?.RouteId;
            if (canonicalRoute is null)
            {
                errors.Add($"route: no route '{Cut(route, 100)}' is configured");
            }
        }
        else if (config.Credentials.TryGetValue(credential!, out var binding))
        {
            canonicalCredential = binding.Name;
        }
        else
        {
            errors.Add($"credential: no credential '{Cut(credential!, 100)}' is configured");
        }
        if (duration is null && !errors.Any(e => e.StartsWith("duration", StringComparison.Ordinal)))
        {
            errors.Add("duration: required (how long you need the access, e.g. \"30m\")");
        }
        else if (duration > config.Grants.MaxDuration)
        {
            errors.Add($"duration: at most {config.Grants.MaxDuration} (grants.maxDuration)");
        }
        if (string.IsNullOrWhiteSpace(reason))
        {
            errors.Add("reason: required (a ticket or change number, or why you need the access)");
        }
        else if (reason.Length > MaxReasonLength)
        {
            errors.Add($"reason: at most {MaxReasonLength} characters");
        }
        if (errors.Count > 0)
        {
            return ApprovalOutcome.Refused(RefusalCatalog.InvalidGrantRequest, string.Join("; ", errors));
        }
        var rules = CoveringRules(config, caller.SpiffeId, canonicalRoute, canonicalCredential);
        var target = canonicalRoute is not null ? $"route '{canonicalRoute}'" : $"credential '{canonicalCredential}'";
        if (rules.Count == 0)
        {
            return ApprovalOutcome.Refused(RefusalCatalog.GrantNotRequestable,
                $"no rule with requireGrant covers '{caller.SpiffeId.Value}' on {target}: a grant would open nothing");
        }
        if (rules.FirstOrDefault(r => r.Approvers is null) is { } unapprovable)
        {
            return ApprovalOutcome.Refused(RefusalCatalog.GrantNotRequestable,
                $"rule '{unapprovable.Name}' requires a grant but lists no approvers: an admin grants it (POST /grants on the admin API)");
        }
        var request = new ApprovalRequest
        {
            Id = "r-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            Requester = caller.SpiffeId.Value,
            Attestation = AttestationKinds.Name(caller.Kind),
            RequesterUid = callerUid,
            Route = canonicalRoute,
            Credential = canonicalCredential,
            Duration = duration!.Value,
            Reason = Clean(reason!),
            CreatedAt = now,
            ExpiresAt = now + config.Approvals.RequestTtl,
            Rules = [.. rules.Select(r => r.Name)],
        };
        lock (_gate)
        {
            var pending = _requests.Values.Count(r => r.Status == ApprovalStatus.Pending && r.Requester == request.Requester);
            if (pending >= config.Approvals.MaxPendingPerRequester)
            {
                return ApprovalOutcome.Refused(RefusalCatalog.TooManyGrantRequests,
                    $"'{request.Requester}' already has {pending} pending request(s) (approvals.maxPendingPerRequester: {config.Approvals.MaxPendingPerRequester}); wait for an answer or for them to expire");
            }
            if (_requests.Count >= MaxRequests)
            {
                _ = Prune(now, force: true);
                if (_requests.Count >= MaxRequests)
                {
                    return ApprovalOutcome.Refused(RefusalCatalog.TooManyGrantRequests, $"the proxy holds {MaxRequests} grant requests; try again later");
                }
            }
        }
        if (!await PersistAsync(request))
        {
            return ApprovalOutcome.Refused(RefusalCatalog.GrantStoreUnavailable, $"grant requests are kept in Redis ({_store!.Location}), which cannot be written now; try again");
        }
        Replace(request);
        audit.Write(AuditEvents.GrantRequestEvent(now, AuditEvents.GrantRequested, request.AuditFields()));
        Log.Requested(logger, request.Id, request.Requester, request.Target, request.Duration);
        webhook.Announce(config.Approvals.Webhook, AuditEvents.GrantRequested, request,
            $":key: *{Slack(request.Requester)}* asks for {Slack(request.Target)} for {Show(request.Duration)}: {Slack(request.Reason)}\n" +
            $"Request `{request.Id}`, expires {request.ExpiresAt:yyyy-MM-dd HH:mm} UTC unanswered. Approvers: those of rule(s) {Slack(string.Join(", ", request.Rules))}.");
        return new ApprovalOutcome(request, null, "");
    }

    /// <summary>An approver approves: the request becomes a grant with the approver's authenticated name.</summary>
    public async Task<ApprovalOutcome> ApproveAsync(string id, Approver approver, string? note)
    {
        ArgumentNullException.ThrowIfNull(approver);
        await _deciding.WaitAsync();
        try
        {
            var (held, unlocked) = await LockAsync(id);
            if (unlocked is not null)
            {
                return unlocked;
            }
            await using var _ = held;
            var (request, refusal) = await DecidableAsync(id, approver);
            if (refusal is not null)
            {
                return refusal;
            }
            var (grant, problems, storeFailed) = await grants.CreateAsync(new GrantRequest(request!.Requester, request.Route, request.Credential, null, request.Duration, null,
                approver.Name, request.Reason, approver.Name));
            if (grant is null)
            {
                return ApprovalOutcome.Refused(storeFailed ? RefusalCatalog.GrantStoreUnavailable : RefusalCatalog.InvalidGrant, string.Join("; ", problems));
            }
            var now = time.GetUtcNow();
            var decided = request with
            {
                Status = ApprovalStatus.Approved,
                DecidedBy = approver.Name,
                DecidedByKind = approver.KindName,
                DecidedAt = now,
                DecisionReason = note is null ? null : Clean(note),
                GrantId = grant.Id,
            };
            Replace(decided);
            if (!await PersistAsync(decided))
            {
                // The grant is in force; other replicas show the request pending until they read it decided.
                Log.DecisionNotShared(logger, decided.Id, grant.Id, _store!.Location);
            }
            audit.Write(AuditEvents.GrantRequestEvent(now, AuditEvents.GrantRequestApproved,
                [.. decided.AuditFields(), new("grant", grant.Id), new("approver", approver.Name), new("approverKind", approver.KindName), new("note", decided.DecisionReason)]));
            Log.Approved(logger, decided.Id, decided.Requester, approver.Name, grant.Id);
            webhook.Announce(scope().Approvals.Webhook, AuditEvents.GrantRequestApproved, decided,
                $":white_check_mark: *{Slack(approver.Name)}* approved request `{decided.Id}`: {Slack(decided.Requester)} may use {Slack(decided.Target)} until {grant.Until:yyyy-MM-dd HH:mm} UTC (grant `{grant.Id}`).");
            return new ApprovalOutcome(decided, null, "", grant);
        }
        finally
        {
            _deciding.Release();
        }
    }

    /// <summary>An approver denies: the request is closed with the reason.</summary>
    public async Task<ApprovalOutcome> DenyAsync(string id, Approver approver, string? reason)
    {
        ArgumentNullException.ThrowIfNull(approver);
        if (string.IsNullOrWhiteSpace(reason))
        {
            return ApprovalOutcome.Refused(RefusalCatalog.InvalidGrantRequest, "reason: required (why the request is denied; the requester reads it)");
        }
        await _deciding.WaitAsync();
        try
        {
            var (held, unlocked) = await LockAsync(id);
            if (unlocked is not null)
            {
                return unlocked;
            }
            await using var _ = held;
            var (request, refusal) = await DecidableAsync(id, approver);
            if (refusal is not null)
            {
                return refusal;
            }
            var now = time.GetUtcNow();
            var decided = request! with
            {
                Status = ApprovalStatus.Denied,
                DecidedBy = approver.Name,
                DecidedByKind = approver.KindName,
                DecidedAt = now,
                DecisionReason = Clean(reason),
            };
            if (!await PersistAsync(decided))
            {
                return ApprovalOutcome.Refused(RefusalCatalog.GrantStoreUnavailable, $"grant requests are kept in Redis ({_store!.Location}), which cannot be written now; try again");
            }
            Replace(decided);
            audit.Write(AuditEvents.GrantRequestEvent(now, AuditEvents.GrantRequestDenied,
                [.. decided.AuditFields(), new("approver", approver.Name), new("approverKind", approver.KindName), new("denialReason", decided.DecisionReason)]));
            Log.Denied(logger, decided.Id, decided.Requester, approver.Name);
            webhook.Announce(scope().Approvals.Webhook, AuditEvents.GrantRequestDenied, decided,
                $":no_entry: *{Slack(approver.Name)}* denied request `{decided.Id}` of {Slack(decided.Requester)} for {Slack(decided.Target)}: {Slack(decided.DecisionReason!)}");
            return new ApprovalOutcome(decided, null, "");
        }
        finally
        {
            _deciding.Release();
        }
    }

    /// <summary>
    /// The request if <paramref name="approver"/> may decide it now: it exists, is pending and not past its expiry, the
    /// approver is not the requester, and every rule the grant would open (under the config in force now) lists them.
    /// </summary>
    private async Task<(ApprovalRequest? Request, ApprovalOutcome? Refusal)> DecidableAsync(string id, Approver approver)
    {
        var request = Find(id);
        if (request is null)
        {
            return (null, ApprovalOutcome.Refused(RefusalCatalog.UnknownGrantRequest, "no grant request with that id (requests closed more than a day ago are forgotten)"));
        }
        var now = time.GetUtcNow();
        if (request.Status == ApprovalStatus.Pending && now >= request.ExpiresAt)
        {
            request = await ExpireAsync(request, now);
        }
        if (request.Status == ApprovalStatus.Expired)
        {
            return (null, ApprovalOutcome.Refused(RefusalCatalog.GrantRequestExpired, $"request {request.Id} expired unanswered at {request.ExpiresAt:O}; the workload must ask again"));
        }
        if (request.Status != ApprovalStatus.Pending)
        {
            return (null, ApprovalOutcome.Refused(RefusalCatalog.GrantRequestClosed, $"request {request.Id} was already {request.StatusName} by {request.DecidedBy}"));
        }
        if (IsRequester(request, approver))
        {
            return (null, ApprovalOutcome.Refused(RefusalCatalog.SelfApproval, $"'{approver.Name}' made request {request.Id}: a request needs a second person (four eyes)"));
        }
        var config = scope();
        List<PolicyRule> rules = !SpiffeId.TryParse(request.Requester, out var requester, out _) ? [] : CoveringRules(config, requester, request.Route, request.Credential);
        if (rules.Count == 0)
        {
            return (null, ApprovalOutcome.Refused(RefusalCatalog.NotAnApprover, $"no rule with requireGrant covers request {request.Id} under the config in force: there is nothing to approve"));
        }
        foreach (var rule in rules)
        {
            if (rule.Approvers is not { } approvers || !approvers.Admits(approver))
            {
                return (null, ApprovalOutcome.Refused(RefusalCatalog.NotAnApprover,
                    $"'{approver.Name}' ({approver.KindName}{(approver.Groups.Count > 0 ? ", groups " + string.Join(", ", approver.Groups) : "")}) is not in the approvers of rule '{rule.Name}'"));
            }
        }
        return (request, null);
    }

    /// <summary>
    /// Whether <paramref name="approver"/> is listed by every rule <paramref name="request"/> would open (the approvers'
    /// listing shows an ID-token approver only those; admins on the admin listener see every request).
    /// </summary>
    public bool Lists(ApprovalRequest request, Approver approver)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(approver);
        if (!SpiffeId.TryParse(request.Requester, out var requester, out _))
        {
            return false;
        }
        var rules = CoveringRules(scope(), requester, request.Route, request.Credential);
        return rules.Count > 0 && rules.All(r => r.Approvers?.Admits(approver) == true);
    }

    /// <summary>Four eyes: the same SPIFFE ID, the same name, or the requester's own uid on the admin socket.</summary>
    private static bool IsRequester(ApprovalRequest request, Approver approver) =>
        string.Equals(approver.Name, request.Requester, StringComparison.Ordinal)
        || (approver.SpiffeId is { } id && string.Equals(id.Value, request.Requester, StringComparison.Ordinal))
        || (approver.Uid is { } uid && request.RequesterUid == uid);

    /// <summary>The allow rules with <c>requireGrant</c> that name the requester and a route the grant would open.</summary>
    internal static List<PolicyRule> CoveringRules(IApprovalScope config, SpiffeId requester, string? route, string? credential)
    {
        List<string> routes = route is not null
            ? [route]
            : config.RouteCredentials.Where(p => string.Equals(p.Value.Name, credential, StringComparison.OrdinalIgnoreCase)).Select(p => p.Key).ToList();
        return [.. config.Policy.Rules.Where(r => r.RequireGrant && !r.IsDeny
            && r.Identities.Any(p => p.Matches(requester))
            && r.Routes.Any(x => routes.Contains(x, StringComparer.OrdinalIgnoreCase)))];
    }

    /// <summary>The grantee ends its own grant early ("task done"): what was issued under it is revoked.</summary>
    public async Task<(Grant Grant, IReadOnlyList<string> Revoked)?> EndOwnGrantAsync(WorkloadIdentity caller, string grantId)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (!grants.All.Any(g => g.Id == grantId && g.Identity == caller.SpiffeId.Value))
        {
            return null;
        }
        return await grants.RevokeAsync(grantId, caller.SpiffeId.Value);
    }

    /// <summary>The grants in force (or starting later) that are the caller's own.</summary>
    public IReadOnlyList<Grant> GrantsOf(WorkloadIdentity caller) => [.. grants.All.Where(g => g.Identity == caller?.SpiffeId.Value)];

    internal async Task ExpireDueAsync()
    {
        try
        {
            var now = time.GetUtcNow();
            List<ApprovalRequest> due;
            List<string> pruned;
            lock (_gate)
            {
                due = [.. _requests.Values.Where(r => r.Status == ApprovalStatus.Pending && now >= r.ExpiresAt)];
                pruned = Prune(now, force: false);
            }
            if (_store is not null)
            {
                await _store.RemoveAsync(pruned);
            }
            foreach (var request in due)
            {
                if (_store is null)
                {
                    await ExpireAsync(request, now);
                    continue;
                }
                // Shared: one replica expires it (and reports it); one that finds it locked or decided leaves it.
                await using var held = await _store.LockAsync(request.Id, TimeSpan.Zero);
                if (held is null)
                {
                    continue;
                }
                var current = await _store.GetAsync(request.Id);
                if (current is not null)
                {
                    Replace(current);
                    if (current.Status == ApprovalStatus.Pending)
                    {
                        await ExpireAsync(current, now);
                    }
                }
            }
        }
        catch (Exception ex)
        {
            Log.ExpiryFailed(logger, ex.GetType().Name);
        }
    }

    /// <summary>
    /// With a shared store: takes request <paramref name="id"/>'s decision lock and reads it as stored (another replica
    /// may have answered it); a refusal when the lock or Redis cannot be had. Without: nothing to hold.
    /// </summary>
    private async Task<(IAsyncDisposable? Held, ApprovalOutcome? Refusal)> LockAsync(string id)
    {
        if (_store is null)
        {
            return (null, null);
        }
        IAsyncDisposable? held = null;
        try
        {
            held = await _store.LockAsync(id, TimeSpan.FromSeconds(5));
            if (held is null)
            {
                return (null, ApprovalOutcome.Refused(RefusalCatalog.GrantStoreUnavailable, $"another replica is deciding request {id} now; try again"));
            }
            if (await _store.GetAsync(id) is { } current)
            {
                Replace(current);
            }
            return (held, null);
        }
        catch (IOException ex)
        {
            if (held is not null)
            {
                await held.DisposeAsync();
            }
            return (null, ApprovalOutcome.Refused(RefusalCatalog.GrantStoreUnavailable, $"grant requests are kept in Redis ({_store.Location}), which cannot be reached now ({ex.Message}); try again"));
        }
    }

    /// <summary>Writes a request to the shared store; true without one. False (logged) when Redis cannot be written.</summary>
    private async Task<bool> PersistAsync(ApprovalRequest request)
    {
        if (_store is null)
        {
            return true;
        }
        try
        {
            await _store.PutAsync(request);
            return true;
        }
        catch (IOException ex)
        {
            Log.SharedWriteFailed(logger, request.Id, _store.Location, ex.Message);
            return false;
        }
    }

    /// <summary>Marks a pending request expired (once: the first caller wins) and reports it.</summary>
    private async Task<ApprovalRequest> ExpireAsync(ApprovalRequest request, DateTimeOffset now)
    {
        var expired = request with { Status = ApprovalStatus.Expired, DecidedAt = request.ExpiresAt };
        lock (_gate)
        {
            if (!_requests.TryGetValue(request.Id, out var current) || current.Status != ApprovalStatus.Pending)
            {
                return current ?? expired;
            }
            _requests[request.Id] = expired;
        }
        await PersistAsync(expired);
        audit.Write(AuditEvents.GrantRequestEvent(now, AuditEvents.GrantRequestExpired, expired.AuditFields()));
        Log.Expired(logger, expired.Id, expired.Requester);
        webhook.Announce(scope().Approvals.Webhook, AuditEvents.GrantRequestExpired, expired,
            $":hourglass: Request `{expired.Id}` of {Slack(expired.Requester)} for {Slack(expired.Target)} expired unanswered.");
        return expired;
    }

    private void Replace(ApprovalRequest request)
    {
        lock (_gate)
        {
            _requests[request.Id] = request;
        }
    }

    /// <summary>Forgets requests closed more than a day ago (all closed ones when <paramref name="force"/>). Under the lock.</summary>
    private List<string> Prune(DateTimeOffset now, bool force)
    {
        var stale = _requests.Values.Where(r => r.Status != ApprovalStatus.Pending && (force || now - (r.DecidedAt ?? r.CreatedAt) > KeepClosed)).Select(r => r.Id).ToList();
        foreach (var id in stale)
        {
            _requests.Remove(id);
        }
        return stale;
    }

    /// <summary>Free text from a caller: control characters become spaces, and it is cut.</summary>
    internal static string Clean(string text) => Cut(new string([.. text.Trim().Select(c => char.IsControl(c) ? ' ' : c)]), MaxReasonLength);

    private static string Cut(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    /// <summary>Slack's mrkdwn escapes (&amp;, &lt;, &gt;), so a reason cannot mention a channel or make a link.</summary>
    internal static string Slack(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);

    internal static string Show(TimeSpan duration) =>
        duration.TotalDays >= 1 && duration.TotalDays % 1 == 0 ? $"{duration.TotalDays:0}d"
        : duration.TotalHours >= 1 && duration.TotalHours % 1 == 0 ? $"{duration.TotalHours:0}h"
        : duration.TotalMinutes >= 1 && duration.TotalMinutes % 1 == 0 ? $"{duration.TotalMinutes:0}m"
        : $"{duration.TotalSeconds:0}s";

    public void Dispose()
    {
        _timer?.Dispose();
        _deciding.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "Grant request {Request}: {Identity} asks for {Target} for {Duration}")]
        public static partial void Requested(ILogger logger, string request, string identity, string target, TimeSpan duration);

        [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Grant request {Request} of {Identity} approved by {Approver}: grant {Grant}")]
        public static partial void Approved(ILogger logger, string request, string identity, string approver, string grant);

        [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "Grant request {Request} of {Identity} denied by {Approver}")]
        public static partial void Denied(ILogger logger, string request, string identity, string approver);

        [LoggerMessage(EventId = 4104, Level = LogLevel.Information, Message = "Grant request {Request} of {Identity} expired unanswered")]
        public static partial void Expired(ILogger logger, string request, string identity);

        [LoggerMessage(EventId = 4105, Level = LogLevel.Error, Message = "Expiring grant requests failed ({ExceptionType}); retrying at the next check")]
        public static partial void ExpiryFailed(ILogger logger, string exceptionType);

        [LoggerMessage(EventId = 4106, Level = LogLevel.Information, Message = "Grant requests: {Count} loaded from {Location}")]
        public static partial void SharedLoaded(ILogger logger, int count, string location);

        [LoggerMessage(EventId = 4107, Level = LogLevel.Warning, Message = "Grant requests could not be read from {Location} ({Detail}); trying again at the next check")]
        public static partial void SharedLoadFailed(ILogger logger, string location, string detail);

        [LoggerMessage(EventId = 4108, Level = LogLevel.Warning, Message = "Grant request {Request} could not be written to {Location} ({Detail})")]
        public static partial void SharedWriteFailed(ILogger logger, string request, string location, string detail);

        [LoggerMessage(EventId = 4109, Level = LogLevel.Error, Message = "Grant request {Request} was approved (grant {Grant}) but the decision could not be written to {Location}: other replicas show it pending until it is")]
        public static partial void DecisionNotShared(ILogger logger, string request, string grant, string location);
    }
}
