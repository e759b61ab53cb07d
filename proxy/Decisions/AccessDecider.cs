using Microsoft.Extensions.Logging;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Credentials;
using SecretlessProxy.Grants;
using SecretlessProxy.Identity;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.Decisions;

/// <summary>
/// The protocol-neutral decision core: identity + what is asked + time + grants → decision (recorded on the
/// request's decision record), then → the credential. Every front-end (the HTTP pipeline today; database listeners,
/// tunnels and MCP routes next) calls it with its own identity, request description and snapshot of the config,
/// and answers a refusal in its own protocol from the catalog entry it gets back.
/// </summary>
public sealed partial class AccessDecider(GrantService grants, CredentialBroker broker, Posture.PostureSource posture, Hooks.DecisionHookClient hooks, TimeProvider time, ILogger<AccessDecider> logger,
    Inventory.SecretLedger? ledger = null)
{
    /// <summary>Decides by policy, records the rule and outcome, and logs a denial.</summary>
    public AccessOutcome Decide(ProxyConfig config, WorkloadIdentity caller, in AccessRequest request, DecisionRecord record)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(record);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var activity = Telemetry.Tracing.Source.StartActivity("secretless.policy");
        var now = time.GetUtcNow();
        Policy.ContextFacts? facts = null;
        if (config.Posture is not null)
        {
            facts = posture.FactsOf(caller.SpiffeId.Value, now);
            record.ContextFacts = facts is null ? "unknown" : "fresh";
        }
        var decision = config.Policy.Decide(caller, request.Route, request.Operation, request.Target, now, grants.Current, new Policy.DecisionContext(request.Listener, request.Source, facts, request.Mcp));
        record.PolicyTicks = System.Diagnostics.Stopwatch.GetTimestamp() - started;
        if (activity is not null)
        {
            activity.SetTag("secretless.route", request.Route);
            activity.SetTag("secretless.rule", decision.Rule?.Name);
            activity.SetTag("secretless.outcome", decision.IsAllowed ? DecisionRecord.Allow : DecisionRecord.Deny);
            activity.SetTag("secretless.reason", decision.Reason);
            activity.Dispose();
        }
        record.Rule = decision.Rule?.Name;
        record.Reason = decision.Reason;
        if (decision.IsAllowed)
        {
            record.Outcome = record.PolicyOutcome = DecisionRecord.Allow;
            return new AccessOutcome(decision, null, null);
        }
        record.Outcome = record.PolicyOutcome = DecisionRecord.Deny;
        Log.Denied(logger, caller.SpiffeId.Value, request.Route, request.Operation, decision.Rule?.Name ?? "(none)", decision.Reason);
        return new AccessOutcome(decision, RefusalCatalog.Get(decision.Reason),
            $"{decision.Detail}; the call from '{caller.SpiffeId.Value}' to route '{request.Route}' was not forwarded");
    }

    /// <summary>
    /// Whether the policy allows the request, with the live grants and the caller's context facts, recording and logging
    /// nothing: for what a front-end shows rather than does (the tools an MCP list answer keeps).
    /// </summary>
    public bool Permits(ProxyConfig config, WorkloadIdentity caller, in AccessRequest request)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(caller);
        var now = time.GetUtcNow();
        var facts = config.Posture is null ? null : posture.FactsOf(caller.SpiffeId.Value, now);
        return config.Policy.Decide(caller, request.Route, request.Operation, request.Target, now, grants.Current, new Policy.DecisionContext(request.Listener, request.Source, facts, request.Mcp)).IsAllowed;
    }

    /// <summary>
    /// <see cref="Decide"/>, then, when the policy allowed and the config has a decision hook covering the route, asks
    /// the hook: its deny refuses the call (403 <c>decision_hook_denied</c>, its reason in the body and the record); its
    /// failure refuses it too (503 <c>decision_hook_unavailable</c>) unless the hook is configured to fail open.
    /// </summary>
    public async ValueTask<AccessOutcome> DecideAsync(ProxyConfig config, WorkloadIdentity caller, AccessRequest request, DecisionRecord record, CancellationToken cancellationToken)
    {
        var outcome = Decide(config, caller, in request, record);
        if (!outcome.IsAllowed || config.DecisionHook is not { } hook || !hook.Covers(request.Route))
        {
            return outcome;
        }
        var facts = config.Posture is null ? null : posture.FactsOf(caller.SpiffeId.Value, time.GetUtcNow());
        var verdict = await hooks.AskAsync(hook, new Hooks.HookInput(caller, request.Route, request.Operation, request.Target, request.Listener, request.Source, facts), cancellationToken);
        record.Hook = verdict.Outcome;
        record.HookReason = verdict.Reason;
        record.HookCached = verdict.Cached;
        if (verdict.Failed)
        {
            if (hook.FailOpen)
            {
                Log.HookFailedOpen(logger, caller.SpiffeId.Value, request.Route, verdict.Reason ?? "");
                return outcome;
            }
            record.Outcome = record.PolicyOutcome = DecisionRecord.Deny;
            record.Reason = RefusalCatalog.DecisionHookUnavailable.Reason;
            Log.Denied(logger, caller.SpiffeId.Value, request.Route, request.Operation, outcome.Decision.Rule?.Name ?? "(none)", RefusalCatalog.DecisionHookUnavailable.Reason);
            return new AccessOutcome(outcome.Decision, RefusalCatalog.DecisionHookUnavailable,
                $"{outcome.Decision.Detail}, but the external decision hook could not decide ({verdict.Reason}), and a hook that fails refuses the call; the call from '{caller.SpiffeId.Value}' to route '{request.Route}' was not forwarded");
        }
        if (verdict.Allowed)
        {
            return outcome;
        }
        record.Outcome = record.PolicyOutcome = DecisionRecord.Deny;
        record.Reason = RefusalCatalog.DecisionHookDenied.Reason;
        Log.Denied(logger, caller.SpiffeId.Value, request.Route, request.Operation, outcome.Decision.Rule?.Name ?? "(none)", RefusalCatalog.DecisionHookDenied.Reason);
        return new AccessOutcome(outcome.Decision, RefusalCatalog.DecisionHookDenied,
            $"{outcome.Decision.Detail}, but the external decision hook denied it: {verdict.Reason ?? "(no reason given)"}; the call from '{caller.SpiffeId.Value}' to route '{request.Route}' was not forwarded")
        {
            HookReason = verdict.Reason,
        };
    }

    /// <summary>Obtains the credential for the call (cached, fetched once, refreshed ahead), recording where it came from.</summary>
    /// <param name="user">The user the caller acts for, validated by the route (an on-behalf-of provider exchanges its token).</param>
    public async ValueTask<CredentialOutcome> CredentialAsync(CredentialBinding binding, WorkloadIdentity caller, string route, DecisionRecord record, CancellationToken cancellationToken,
        Abstractions.ActingUser? user = null)
    {
        ArgumentNullException.ThrowIfNull(binding);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(record);
        record.Credential = binding.Name;
        record.CredentialProvider = binding.ProviderName;
        record.CredentialStore = binding.Store;
        if (binding.Class is { } secretClass && !secretClass.Permits(caller.SpiffeId))
        {
            // The route's rule allowed the call, but the secret's class does not allow this workload: no fetch at all.
            record.Outcome = record.PolicyOutcome = DecisionRecord.Deny;
            record.Reason = RefusalCatalog.CredentialClassNotAllowed.Reason;
            Log.Denied(logger, caller.SpiffeId.Value, route, "credential", "class " + secretClass.Name, RefusalCatalog.CredentialClassNotAllowed.Reason);
            return new CredentialOutcome(null, RefusalCatalog.CredentialClassNotAllowed,
                $"credential '{binding.Name}' is of class '{secretClass.Name}', which '{caller.SpiffeId.Value}' may not use (classes.{secretClass.Name}.allow); the upstream was not called");
        }
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var activity = Telemetry.Tracing.Source.StartActivity("secretless.credential");
        activity?.SetTag("secretless.credential", binding.Name);
        activity?.SetTag("secretless.provider", binding.ProviderName);
        try
        {
            var credential = await broker.GetAsync(binding, caller, route, cancellationToken, record, user);
            record.CredentialStatic = credential.IsStatic;
            record.CredentialLeaseId = credential.LeaseId;
            record.CredentialVersion = credential.Version;
            ledger?.Served(binding, credential);
            return new CredentialOutcome(credential, null, null);
        }
        catch (Abstractions.UserCredentialMissingException ex)
        {
            // A per-user secret this user does not have: a refusal of the call (403), never another user's secret.
            record.Outcome = DecisionRecord.Deny;
            record.Reason = RefusalCatalog.UserSecretMissing.Reason;
            Log.Denied(logger, caller.SpiffeId.Value, route, "credential", "credential " + binding.Name, RefusalCatalog.UserSecretMissing.Reason);
            return new CredentialOutcome(null, RefusalCatalog.UserSecretMissing,
                $"credential '{binding.Name}' is kept per user and {ex.Reason}; the upstream was not called");
        }
        catch (CredentialUnavailableException ex)
        {
            return Refuse(ex.IsOutage ? RefusalCatalog.IssuerUnavailable : RefusalCatalog.CredentialUnavailable, binding.Name, ex.Reason, route);
        }
        finally
        {
            record.CredentialTicks = System.Diagnostics.Stopwatch.GetTimestamp() - started;
            if (activity is not null)
            {
                activity.SetTag("secretless.source", DecisionRecord.SourceName(record.CredentialSource));
                activity.SetTag("secretless.outcome", record.Outcome == DecisionRecord.Error ? "error" : "ok");
                activity.Dispose();
            }
        }
    }

    /// <summary>A credential that could not be had or put on the call: logged here, answered by the front-end.</summary>
    public CredentialOutcome Refuse(Refusal refusal, string credential, string reason, string route)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        Log.CredentialFailed(logger, credential, route, reason);
        return new CredentialOutcome(null, refusal, $"the proxy could not obtain credential '{credential}' for route '{route}' ({reason}); the upstream was not called");
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2101, Level = LogLevel.Information, Message = "Denied {Identity} on route {Route} ({Method}): rule {Rule}, reason {Reason}")]
        public static partial void Denied(ILogger logger, string identity, string route, string method, string rule, string reason);

        [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "Decision hook failed for {Identity} on route {Route} ({Problem}); onError is allow, so the policy's allow stands")]
        public static partial void HookFailedOpen(ILogger logger, string identity, string route, string problem);

        [LoggerMessage(EventId = 2201, Level = LogLevel.Warning, Message = "Credential {Credential} unavailable for route {Route}: {Reason}")]
        public static partial void CredentialFailed(ILogger logger, string credential, string route, string reason);
    }
}
