using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Credentials;
using SecretlessProxy.Redis;
using SecretlessProxy.Identity;
using SecretlessProxy.Policy;

namespace SecretlessProxy.Grants;

/// <summary>
/// Owns the time-boxed grants: creates (approves), lists and revokes them, keeps them in the store so they survive
/// a restart, and gives the policy an immutable <see cref="GrantSet"/> snapshot (rebuilt when grants or the config
/// change; reading it is one reference comparison). Once a second it ends grants whose window is over. When a grant
/// ends, the credentials issued under it are revoked from the cache (per workload) and the trail records it.
/// </summary>
public sealed partial class GrantService(Func<IGrantScope> scope, CredentialBroker broker, RedisConnection redis, DecisionLog audit, TimeProvider time, ILogger<GrantService> logger) : IDisposable
{
    /// <summary>How often a shared store is read again, besides the change notices other replicas publish.</summary>
    private const int ReloadEveryChecks = 10;

    private int _checks;
    private volatile bool _loaded;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile Snapshot _snapshot = new(null, GrantSet.Empty, []);
    private List<Grant> _grants = [];
    private IGrantStore? _store;
    private ITimer? _timer;

    /// <summary>The grants the policy sees, for the config in force.</summary>
    public GrantSet Current
    {
        get
        {
            var snapshot = _snapshot;
            var config = scope();
            return ReferenceEquals(snapshot.Config, config) ? snapshot.Set : Rebuild(config).Set;
        }
    }

    /// <summary>Every grant not yet ended (live or starting later).</summary>
    public IReadOnlyList<Grant> All => _snapshot.Grants;

    public int LiveCount
    {
        get
        {
            var now = time.GetUtcNow();
            return _snapshot.Grants.Count(g => g.IsLive(now));
        }
    }

    public string? StoreLocation => _store?.Location;

    /// <summary>
    /// Loads the saved grants (a corrupt file is set aside and logged; an unreachable Redis is tried again at every
    /// check, and until then no grant is in force) and starts the expiry check.
    /// </summary>
    public async Task StartAsync(IGrantStore? store = null, TimeSpan? checkInterval = null)
    {
        var settings = scope().Grants;
        _store = store ?? (settings.Store == GrantStoreKind.Redis && scope().Cache.Redis is { } shared
            ? new RedisGrantStore(redis, shared.KeyPrefix, shared.Keys)
            : new FileGrantStore(settings.Path));
        if (_store.IsShared)
        {
            (_store as RedisGrantStore)?.OnChangedElsewhere(() => _ = ReloadAsync());
            await ReloadAsync();
        }
        else
        {
            await LoadFileAsync();
        }
        Rebuild(scope());
        var interval = checkInterval ?? TimeSpan.FromSeconds(1);
        _timer = time.CreateTimer(_ => _ = CheckAsync(), null, interval, interval);
    }

    private async Task LoadFileAsync()
    {
        try
        {
            _grants = Admit(await _store!.LoadAsync(CancellationToken.None));
            _loaded = true;
            Log.Loaded(logger, _grants.Count, _store!.Location);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or InvalidDataException)
        {
            Log.LoadFailed(logger, _store!.Location, ex.GetType().Name);
            if (_store is FileGrantStore && File.Exists(_store.Location))
            {
                File.Move(_store.Location, $"{_store.Location}.unreadable-{time.GetUtcNow():yyyyMMddHHmmss}", overwrite: true);
            }
            _grants = [];
            _loaded = true;
        }
    }

    /// <summary>Reads a shared store again (another replica changed it, or it was unreachable before).</summary>
    internal async Task ReloadAsync()
    {
        await _gate.WaitAsync();
        try
        {
            var grants = await _store!.LoadAsync(CancellationToken.None);
            if (!_loaded)
            {
                Log.Loaded(logger, grants.Count, _store.Location);
            }
            _grants = Admit(grants);
            _loaded = true;
            Rebuild(scope());
        }
        catch (IOException ex)
        {
            if (_loaded || _checks == 0)
            {
                Log.SharedLoadFailed(logger, _store!.Location, ex.Message);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private readonly HashSet<string> _reportedRejections = new(StringComparer.Ordinal);

    /// <summary>
    /// The loaded grants that may be put in force: each is checked again as if it were being approved now (identity,
    /// route or credential, window, grants.maxDuration), and what the store itself refused (a Redis entry that does
    /// not open) is reported. A rejected grant is logged and audited once, and never in force.
    /// </summary>
    private List<Grant> Admit(IReadOnlyList<Grant> loaded)
    {
        var config = scope();
        var admitted = new List<Grant>(loaded.Count);
        var rejected = new List<(string Id, string Problem)>();
        if (_store is RedisGrantStore redis)
        {
            rejected.AddRange(redis.Rejected);
        }
        foreach (var grant in loaded)
        {
            if (Problem(grant, config) is { } problem)
            {
                rejected.Add((grant.Id, problem));
            }
            else
            {
                admitted.Add(grant);
            }
        }
        foreach (var (id, problem) in rejected)
        {
            if (_reportedRejections.Add(id))
            {
                // The id comes from the store as written, perhaps by an attacker: only its harmless characters are shown.
                var shown = Cut(new string([.. id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '?')]));
                Log.Rejected(logger, shown, _store!.Location, problem);
                audit.Write(AuditEvents.GrantRejectedEvent(time.GetUtcNow(), _store!.Location, shown, problem));
            }
        }
        return admitted;
    }

    /// <summary>Why a stored grant cannot be in force under <paramref name="config"/>, or null.</summary>
    internal static string? Problem(Grant grant, IGrantScope config)
    {
        if (!SpiffeId.TryParse(grant.Identity, out var id, out _) || id.IsRoot)
        {
            return "its identity is not the SPIFFE ID of a workload";
        }
        if ((grant.Route is null) == (grant.Credential is null))
        {
            return "it must name exactly one of route and credential";
        }
        if (grant.Route is not null && !config.Routes.Any(r => string.Equals(r.RouteId, grant.Route, StringComparison.OrdinalIgnoreCase)))
        {
            return $"route '{Cut(grant.Route)}' is not configured";
        }
        if (grant.Credential is not null && !config.Credentials.ContainsKey(grant.Credential))
        {
            return $"credential '{Cut(grant.Credential)}' is not configured";
        }
        if (grant.Until <= grant.From)
        {
            return "its window ends before it starts";
        }
        if (grant.Until - grant.From > config.Grants.MaxDuration)
        {
            return $"its window is longer than grants.maxDuration ({config.Grants.MaxDuration})";
        }
        if (string.IsNullOrWhiteSpace(grant.Approver) || string.IsNullOrWhiteSpace(grant.Reason))
        {
            return "it has no approver or no reason";
        }
        return null;
    }

    private async Task CheckAsync()
    {
        await EndExpiredAsync();
        var check = Interlocked.Increment(ref _checks);
        if (_store is { IsShared: true } && (!_loaded || check % ReloadEveryChecks == 0))
        {
            await ReloadAsync();
        }
    }

    /// <summary>Validates and approves a grant; returns it, or the problems with the request.</summary>
    public async Task<(Grant? Grant, IReadOnlyList<string> Errors, bool StoreFailed)> CreateAsync(GrantRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var errors = new List<string>();
        var config = scope();
        var now = time.GetUtcNow();
        if (request.Identity is null || !SpiffeId.TryParse(request.Identity, out var id, out _))
        {
            errors.Add("identity: must be the exact SPIFFE ID of the workload (spiffe://trust-domain/path)");
            id = null;
        }
        else if (id.IsRoot)
        {
            errors.Add("identity: must name a workload, not a bare trust domain");
        }
        string? route = null;
        string? credential = null;
        if ((request.Route is null) == (request.Credential is null))
        {
            errors.Add("route or credential: give exactly one (the route the grant opens, or a credential whose routes it opens)");
        }
        else if (request.Route is not null)
        {
            route = config.Routes.FirstOrDefault(r => string.Equals(r.RouteId, request.Route, StringComparison.OrdinalIgnoreCase))?.RouteId;
            if (route is null)
            {
                errors.Add($"route: no route '{Cut(request.Route)}' is configured");
            }
        }
        else if (config.Credentials.TryGetValue(request.Credential!, out var binding))
        {
            credential = binding.Name;
        }
        else
        {
            errors.Add($"credential: no credential '{Cut(request.Credential!)}' is configured");
        }
        if (request.Approver is null)
        {
            errors.Add("approver: required (who approved the access)");
        }
        if (request.Reason is null)
        {
            errors.Add("reason: required (a ticket or change number, or why the access is needed)");
        }
        var from = request.From ?? now;
        DateTimeOffset until = default;
        if (request.Duration is null == request.Until is null)
        {
            errors.Add("duration or until: give exactly one (e.g. \"duration\": \"30m\")");
        }
        else if (OutOfRange(from, now) || (request.Until is { } end && OutOfRange(end, now)))
        {
            errors.Add($"from and until: must lie within {MaxHorizon.TotalDays:0} days of now");
        }
        else if (request.Duration > config.Grants.MaxDuration)
        {
            errors.Add($"duration: at most {config.Grants.MaxDuration} (grants.maxDuration)");
        }
        else
        {
            until = request.Until ?? from + request.Duration!.Value;
            if (until <= from || until <= now)
            {
                errors.Add("until: the window must end after it starts and in the future");
            }
            else if (until - from > config.Grants.MaxDuration)
            {
                errors.Add($"duration: at most {config.Grants.MaxDuration} (grants.maxDuration)");
            }
        }
        if (errors.Count > 0)
        {
            return (null, errors, false);
        }
        var grant = new Grant
        {
            Id = "g-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)),
            Identity = id!.Value,
            Route = route,
            Credential = credential,
            From = from,
            Until = until,
            Approver = request.Approver!,
            Reason = request.Reason!,
            CreatedAt = now,
            CreatedBy = request.CreatedBy,
        };
        await _gate.WaitAsync();
        try
        {
            var next = new List<Grant>(_grants) { grant };
            if (!await SaveAsync(next, [grant], []))
            {
                return (null, ["the grant store could not be written, so the grant would not survive a restart; nothing was granted"], true);
            }
            _grants = next;
            Rebuild(scope());
        }
        finally
        {
            _gate.Release();
        }
        audit.Write(AuditEvents.GrantApprovedEvent(now, grant.AuditFields()));
        Log.Approved(logger, grant.Id, grant.Identity, grant.Route ?? grant.Credential!, grant.Until, grant.Approver);
        return (grant, [], false);
    }

    /// <summary>How far from now a grant's window may start or end: far enough for any planned change, near enough that no date arithmetic overflows.</summary>
    private static readonly TimeSpan MaxHorizon = TimeSpan.FromDays(3660);

    private static bool OutOfRange(DateTimeOffset instant, DateTimeOffset now) => instant < now - MaxHorizon || instant > now + MaxHorizon;

    /// <summary>Ends a grant early. Returns the grant and the credentials revoked, or null when there is no such grant.</summary>
    public async Task<(Grant Grant, IReadOnlyList<string> Revoked)?> RevokeAsync(string id, string? by)
    {
        var ended = await EndAsync(g => g.Id == id);
        if (ended.Count == 0)
        {
            return null;
        }
        var grant = ended[0];
        var revoked = await RevokeCredentialsAsync(grant);
        audit.Write(AuditEvents.GrantEnded(time.GetUtcNow(), grant.AuditFields(), expired: false, by ?? "admin-api", revoked));
        Log.Revoked(logger, grant.Id, grant.Identity, by ?? "admin-api");
        return (grant, revoked);
    }

    internal async Task EndExpiredAsync()
    {
        try
        {
            var now = time.GetUtcNow();
            if (!_snapshot.Grants.Any(g => g.Until <= now))
            {
                return;
            }
            foreach (var grant in await EndAsync(g => g.Until <= now))
            {
                var revoked = await RevokeCredentialsAsync(grant);
                audit.Write(AuditEvents.GrantEnded(time.GetUtcNow(), grant.AuditFields(), expired: true, null, revoked));
                Log.Expired(logger, grant.Id, grant.Identity);
            }
        }
        catch (Exception ex)
        {
            Log.ExpiryFailed(logger, ex);
        }
    }

    private async Task<List<Grant>> EndAsync(Func<Grant, bool> which)
    {
        await _gate.WaitAsync();
        try
        {
            var ended = _grants.Where(which).ToList();
            if (ended.Count == 0)
            {
                return ended;
            }
            var next = _grants.Where(g => !which(g)).ToList();
            // Access ends now even if the store cannot be written (it would only bring the grant back after a restart,
            // and the expiry check ends it again then).
            await SaveAsync(next, [], [.. ended.Select(g => g.Id)]);
            _grants = next;
            Rebuild(scope());
            return ended;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Revokes, for the grant's identity, the credentials of the routes the grant opened.</summary>
    private async Task<IReadOnlyList<string>> RevokeCredentialsAsync(Grant grant)
    {
        var config = scope();
        var bindings = new List<CredentialBinding>();
        if (grant.Credential is not null && config.Credentials.TryGetValue(grant.Credential, out var byName))
        {
            bindings.Add(byName);
        }
        if (grant.Route is not null && config.RouteCredentials.TryGetValue(grant.Route, out var byRoute))
        {
            bindings.Add(byRoute);
        }
        var revoked = new List<string>();
        // Only credentials issued for this workload: one shared by every caller is not the grant's to drop.
        foreach (var binding in bindings.Distinct().Where(b => b.Provider.IsWorkloadBound))
        {
            if (await broker.RevokeAsync(binding, grant.Identity))
            {
                revoked.Add(binding.Name);
            }
        }
        return revoked;
    }

    private async Task<bool> SaveAsync(List<Grant> grants, IReadOnlyList<Grant> added, IReadOnlyList<string> removedIds)
    {
        try
        {
            await _store!.SaveAsync(grants, added, removedIds, CancellationToken.None);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.SaveFailed(logger, _store!.Location, ex.GetType().Name);
            return false;
        }
    }

    private Snapshot Rebuild(IGrantScope config)
    {
        var grants = _grants;
        var windows = new List<(string, string, DateTimeOffset, DateTimeOffset)>();
        foreach (var grant in grants)
        {
            if (grant.Route is not null)
            {
                windows.Add((grant.Identity, grant.Route, grant.From, grant.Until));
            }
            else
            {
                foreach (var (route, binding) in config.RouteCredentials)
                {
                    if (string.Equals(binding.Name, grant.Credential, StringComparison.OrdinalIgnoreCase))
                    {
                        windows.Add((grant.Identity, route, grant.From, grant.Until));
                    }
                }
            }
        }
        var snapshot = new Snapshot(config, new GrantSet(windows), grants);
        _snapshot = snapshot;
        return snapshot;
    }

    private static string Cut(string text) => text.Length <= 100 ? text : text[..100] + "…";

    public void Dispose()
    {
        _timer?.Dispose();
        _gate.Dispose();
    }

    private sealed record Snapshot(IGrantScope? Config, GrantSet Set, IReadOnlyList<Grant> Grants);

    private static partial class Log
    {
        [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Loaded {Count} grant(s) from {Store}")]
        public static partial void Loaded(ILogger logger, int count, string store);

        [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "Grants in {Store} could not be read ({Error}); the file was set aside and no grant is in force")]
        public static partial void LoadFailed(ILogger logger, string store, string error);

        [LoggerMessage(EventId = 4003, Level = LogLevel.Information, Message = "Grant {Grant} approved by {Approver}: {Identity} may use {Target} until {Until:O}")]
        public static partial void Approved(ILogger logger, string grant, string identity, string target, DateTimeOffset until, string approver);

        [LoggerMessage(EventId = 4004, Level = LogLevel.Information, Message = "Grant {Grant} for {Identity} expired; its credentials were revoked")]
        public static partial void Expired(ILogger logger, string grant, string identity);

        [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "Grant {Grant} for {Identity} revoked by {By}; its credentials were revoked")]
        public static partial void Revoked(ILogger logger, string grant, string identity, string by);

        [LoggerMessage(EventId = 4006, Level = LogLevel.Error, Message = "Grants could not be saved to {Store} ({Error})")]
        public static partial void SaveFailed(ILogger logger, string store, string error);

        [LoggerMessage(EventId = 4008, Level = LogLevel.Warning, Message = "Grants could not be read from {Store} ({Error}); no grant from it is in force until it can be read (tried again every second)")]
        public static partial void SharedLoadFailed(ILogger logger, string store, string error);

        [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "Grant {Grant} in {Store} was not put in force: {Problem}")]
        public static partial void Rejected(ILogger logger, string grant, string store, string problem);

        [LoggerMessage(EventId = 4007, Level = LogLevel.Error, Message = "Ending expired grants failed; retrying at the next check")]
        public static partial void ExpiryFailed(ILogger logger, Exception exception);
    }
}
