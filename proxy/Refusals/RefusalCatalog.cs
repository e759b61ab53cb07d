using System.Collections.Frozen;
using SecretlessProxy.Plugins.Aws;

namespace SecretlessProxy.Refusals;

/// <summary>
/// Every refusal the proxy answers, one entry per meaning: status, reason, title, audit outcome, scope. The
/// answer (<see cref="Problem"/>) and the audit fields are both written from the entry, and the README's tables of
/// reasons are checked against this list by a test.
/// </summary>
public static class RefusalCatalog
{
    // 400: the path guard refused the request target.
    public static readonly Refusal NotOriginForm = Path("request_target_not_origin_form");
    public static readonly Refusal Fragment = Path("request_target_fragment");
    public static readonly Refusal AmbiguousEncoding = Path("path_ambiguous_encoding");
    public static readonly Refusal BadEncoding = Path("path_bad_encoding");
    public static readonly Refusal InvalidCharacter = Path("path_invalid_character");
    public static readonly Refusal UnicodeSeparator = Path("path_unicode_separator");
    public static readonly Refusal Backslash = Path("path_backslash");
    public static readonly Refusal PathParameter = Path("path_parameter");
    public static readonly Refusal EmptySegment = Path("path_empty_segment");
    public static readonly Refusal DotSegment = Path("path_dot_segment");

    // 401: no verified X.509-SVID, by the first rule that failed (proxy listeners and an https admin listener).
    public static readonly Refusal NoCertificate = Svid("client_certificate_required");
    public static readonly Refusal SanMalformed = Svid("san_malformed");
    public static readonly Refusal UriSanMissing = Svid("uri_san_missing");
    public static readonly Refusal UriSanMultiple = Svid("uri_san_multiple");
    public static readonly Refusal SpiffeIdInvalid = Svid("spiffe_id_invalid");
    public static readonly Refusal SpiffeIdRootPath = Svid("spiffe_id_root_path");
    public static readonly Refusal LeafIsCa = Svid("leaf_is_ca");
    public static readonly Refusal KeyUsageMissing = Svid("key_usage_missing");
    public static readonly Refusal KeyUsageNoDigitalSignature = Svid("key_usage_no_digital_signature");
    public static readonly Refusal KeyUsageCaBits = Svid("key_usage_cert_sign");
    public static readonly Refusal EkuNoClientAuth = Svid("eku_no_client_auth");
    public static readonly Refusal NotYetValid = Svid("certificate_not_yet_valid");
    public static readonly Refusal Expired = Svid("certificate_expired");
    public static readonly Refusal TrustDomainUnknown = Svid("trust_domain_unknown");
    public static readonly Refusal ChainUntrusted = Svid("chain_untrusted");

    // 401: a local caller (Unix socket peer, loopback listener) could not be attested.
    public static readonly Refusal UnknownLocalCaller = Svid("unknown_local_caller");
    public static readonly Refusal PeerProcessChanged = Svid("peer_process_changed");
    public static readonly Refusal ExecutableReplaced = Svid("executable_replaced");
    public static readonly Refusal PeerCredentialsUnavailable = Svid("peer_credentials_unavailable");
    public static readonly Refusal NotLoopback = Svid("not_loopback");

    // 401: a bearer-token caller (listeners[].bearer) was not attested; 503 when its issuer's keys cannot be read.
    public static readonly Refusal BearerTokenMissing = Bearer("bearer_token_missing");
    public static readonly Refusal BearerTokenMalformed = Bearer("bearer_token_malformed");
    public static readonly Refusal BearerTokenInsecureTransport = Bearer("bearer_token_insecure_transport");
    public static readonly Refusal BearerTokenIssuerUnknown = Bearer("bearer_token_issuer_unknown");
    public static readonly Refusal BearerTokenAlgorithmRefused = Bearer("bearer_token_algorithm_refused");
    public static readonly Refusal BearerTokenKeyUnknown = Bearer("bearer_token_key_unknown");
    public static readonly Refusal BearerTokenSignatureInvalid = Bearer("bearer_token_signature_invalid");
    public static readonly Refusal BearerTokenAudienceMismatch = Bearer("bearer_token_audience_mismatch");
    public static readonly Refusal BearerTokenExpired = Bearer("bearer_token_expired");
    public static readonly Refusal BearerTokenNotYetValid = Bearer("bearer_token_not_yet_valid");
    public static readonly Refusal BearerTokenLifetimeTooLong = Bearer("bearer_token_lifetime_too_long");
    public static readonly Refusal BearerTokenUnmapped = Bearer("bearer_token_unmapped");
    public static readonly Refusal BearerIssuerUnavailable = new(503, "bearer_issuer_unavailable", "Token issuer's keys unavailable", Refusal.Error) { RetryAfterSeconds = 5 };

    // 403: policy, and what an injector or a read the request makes is refused.
    public static readonly Refusal DeniedByRule = Policy("denied_by_rule");
    public static readonly Refusal NoRuleMatched = Policy("no_rule_matched");
    public static readonly Refusal GrantRequired = Policy("grant_required");
    public static readonly Refusal ContextFactsUnknown = Policy("context_facts_unknown");
    public static readonly Refusal DecisionHookDenied = Forbidden("decision_hook_denied");
    public static readonly Refusal MethodOverride = Forbidden("method_override_refused");
    public static readonly Refusal ReadDenied = Forbidden("read_denied");
    public static readonly Refusal ReadOutsideRoute = Forbidden("read_outside_route");
    public static readonly Refusal AwsHeaderNotAllowed = new(403, AmzHeaderPolicy.HeaderNotAllowed, "Header not signed for this route", Refusal.Deny);
    public static readonly Refusal AwsCopySourceInvalid = AwsHeaderNotAllowed with { Reason = AmzHeaderPolicy.CopySourceInvalid };
    public static readonly Refusal CredentialClassNotAllowed = new(403, "credential_class_not_allowed", "Workload not allowed this class of secret", Refusal.Deny, RefusalScope.Proxy | RefusalScope.Database) { SqlState = "28000" };
    public static readonly Refusal InjectorRefused = new(403, "injector_refused", "Refused by the route's credential injector", Refusal.Deny);

    // The forward proxy (absolute-form requests and CONNECT tunnels).
    public static readonly Refusal ForwardHostNotAllowed = new(403, "forward_host_not_allowed", "Host not served by this forward proxy", Refusal.Deny);
    public static readonly Refusal TunnelHostMismatch = new(421, "tunnel_host_mismatch", "Request host differs from the tunnel's", Refusal.Deny);
    public static readonly Refusal ConnectMalformed = new(400, "connect_malformed", "Malformed CONNECT request", Refusal.Deny);
    public static readonly Refusal ForwardAddressNotAllowed = new(403, "forward_address_not_allowed", "Tunnel address not allowed", Refusal.Deny);

    // MCP routes: answered as JSON-RPC errors (HTTP 200 for a refused request, the status for a message that is not one).
    public static readonly Refusal McpArgumentRefused = Forbidden("mcp_argument_refused");
    public static readonly Refusal McpInvalidMessage = new(400, "mcp_invalid_message", "Invalid MCP message", Refusal.Deny);
    public static readonly Refusal McpMessageTooLarge = new(413, "mcp_message_too_large", "MCP message too large", Refusal.Deny);
    public static readonly Refusal McpNotJson = new(415, "mcp_not_json", "MCP message is not application/json", Refusal.Deny);
    public static readonly Refusal McpUserTokenInvalid = Forbidden("mcp_user_token_invalid") with { Title = "User token not accepted" };
    public static readonly Refusal McpUserIssuerUnavailable = new(503, "mcp_user_issuer_unavailable", "User token issuer unavailable", Refusal.Error) { RetryAfterSeconds = 5 };
    public static readonly Refusal McpAnswerUnfiltered = new(502, "mcp_answer_unfiltered", "Upstream's MCP list answer could not be filtered", Refusal.Error);
    public static readonly Refusal UserSecretMissing = new(403, "user_secret_missing", "No secret for this user", Refusal.Deny);

    // 404, 413, 400: routing and bodies.
    public static readonly Refusal NoRoute = new(404, "no_route", "No route", Refusal.Deny);
    public static readonly Refusal PayloadTooLarge = new(413, "payload_too_large", "Request body too large", Refusal.Error, RefusalScope.Both);
    public static readonly Refusal BodyUnreadable = new(400, "body_unreadable", "Request body unreadable", Refusal.Error);

    // 502, 503, 504: the proxy's own credential or the upstream failed; the caller is not to blame.
    public static readonly Refusal CredentialUnavailable = new(502, "credential_unavailable", "Upstream credential unavailable", Refusal.Error, RefusalScope.Proxy | RefusalScope.Database) { SqlState = "08004" };
    public static readonly Refusal CredentialInvalid = CredentialUnavailable with { Reason = "credential_invalid" };
    public static readonly Refusal IssuerUnavailable = CredentialUnavailable with { Status = 503, Reason = "credential_issuer_unavailable", RetryAfterSeconds = 5, SqlState = "08006" };
    public static readonly Refusal BodyBufferFull = new(503, "body_buffer_full", "Proxy busy buffering request bodies", Refusal.Error) { RetryAfterSeconds = 1 };
    public static readonly Refusal DecisionHookUnavailable = new(503, "decision_hook_unavailable", "External decision hook unavailable", Refusal.Error) { RetryAfterSeconds = 1 };
    public static readonly Refusal ConfigChanged = new(503, "config_changed", "Configuration changed during the call", Refusal.Error) { RetryAfterSeconds = 1 };
    public static readonly Refusal ClientCertificateUnavailable = new(503, "client_certificate_unavailable", "Proxy's client certificate unavailable", Refusal.Error) { RetryAfterSeconds = 5 };
    public static readonly Refusal UpstreamUnavailable = new(502, "upstream_unavailable", "Upstream unavailable", Refusal.Error, RefusalScope.Proxy | RefusalScope.Database) { SqlState = "08006" };
    public static readonly Refusal UpstreamTimeout = new(504, "upstream_timeout", "Upstream timed out", Refusal.Error);
    public static readonly Refusal InternalError = new(500, "internal_error", "Internal proxy error", Refusal.Error, RefusalScope.Both | RefusalScope.Database) { SqlState = "XX000" };

    // The database gateway (ErrorResponse with the SQLSTATE; the status is the HTTP equivalent, for dashboards).
    public static readonly Refusal DbNoUser = Db(400, "no_user", "No user name in the startup packet", "28000");
    public static readonly Refusal DbUnknownDatabase = Db(404, "unknown_database", "Database not served by this gateway", "3D000");
    public static readonly Refusal DbUnknownRole = Db(403, "unknown_role", "Role not configured for this database", "28000");
    public static readonly Refusal DbProtocolViolation = Db(400, "protocol_violation", "Protocol violation", "08P01");
    public static readonly Refusal DbUpstreamAuthDowngrade = Db(502, "upstream_auth_downgrade", "Upstream asked for a weaker authentication than configured", "28000");
    public static readonly Refusal DbUpstreamLoginRefused = Db(502, "upstream_login_refused", "Upstream refused the gateway's login", "28P01");
    public static readonly Refusal DbUpstreamLoginFailed = Db(502, "upstream_login_failed", "Upstream login failed", "28000");

    // The admin API.
    public static readonly Refusal NotAnAdmin = Admin(403, "not_an_admin", "Not an admin identity");
    public static readonly Refusal AdminUnauthenticated = Admin(403, "admin_authentication_required", "Admin API requires an authenticated admin");
    public static readonly Refusal NoAdminEndpoint = Admin(404, "no_admin_endpoint", "No such admin endpoint");
    public static readonly Refusal MethodNotAllowed = Admin(405, "method_not_allowed", "Method not allowed");
    public static readonly Refusal InvalidJson = Admin(400, "invalid_json", "Invalid JSON") with { Scope = RefusalScope.Both };
    public static readonly Refusal InvalidGrant = Admin(400, "invalid_grant", "Invalid grant request");
    public static readonly Refusal InvalidIdentity = Admin(400, "invalid_identity", "Invalid identity");
    public static readonly Refusal InvalidStaleDays = Admin(400, "invalid_stale_days", "Invalid staleDays");
    public static readonly Refusal InvalidInventoryQuery = Admin(400, "invalid_inventory_query", "Invalid inventory query");
    public static readonly Refusal UnknownCredential = Admin(404, "unknown_credential", "No such credential");
    public static readonly Refusal UnknownGrant = Admin(404, "unknown_grant", "No such grant") with { Scope = RefusalScope.Both };
    public static readonly Refusal GrantStoreUnavailable = Admin(503, "grant_store_unavailable", "Grant not stored");
    public static readonly Refusal NotReady = Admin(503, "not_ready", "Not ready");

    // Grant requests and approvals (issue 16): a workload asks on its own listener, an authenticated approver answers on the admin listener.
    public static readonly Refusal InvalidGrantRequest = Admin(400, "invalid_grant_request", "Invalid grant request") with { Scope = RefusalScope.Both };
    public static readonly Refusal GrantNotRequestable = new(403, "grant_not_requestable", "Grant cannot be requested", Refusal.Deny);
    public static readonly Refusal TooManyGrantRequests = new(429, "too_many_grant_requests", "Too many pending grant requests", Refusal.Deny);
    public static readonly Refusal UnknownGrantRequest = Admin(404, "unknown_grant_request", "No such grant request") with { Scope = RefusalScope.Both };
    public static readonly Refusal NotAnApprover = Admin(403, "not_an_approver", "Not an approver of this request");
    public static readonly Refusal SelfApproval = Admin(403, "self_approval", "A requester cannot approve its own request");
    public static readonly Refusal ApproverTokenInvalid = Admin(403, "approver_token_invalid", "Approver's ID token not accepted");
    public static readonly Refusal ApproverIssuerUnavailable = Admin(503, "approver_issuer_unavailable", "Approvers' identity provider unavailable");
    public static readonly Refusal GrantRequestClosed = Admin(409, "grant_request_closed", "Grant request already decided");
    public static readonly Refusal GrantRequestExpired = Admin(410, "grant_request_expired", "Grant request expired");

    // The web console (issue 21): its forms are refused when it is read-only, or when the POST is not from its own pages.
    public static readonly Refusal ConsoleReadOnly = Admin(403, "console_read_only", "Console is read-only here");
    public static readonly Refusal ConsoleCrossOrigin = Admin(403, "console_cross_origin", "Console form from another origin");

    /// <summary>Every entry, in the order of the README's tables.</summary>
    public static IReadOnlyList<Refusal> All { get; } =
    [
        NotOriginForm, Fragment, AmbiguousEncoding, BadEncoding, InvalidCharacter, UnicodeSeparator, Backslash, PathParameter, EmptySegment, DotSegment,
        NoCertificate, SanMalformed, UriSanMissing, UriSanMultiple, SpiffeIdInvalid, SpiffeIdRootPath, LeafIsCa, KeyUsageMissing,
        KeyUsageNoDigitalSignature, KeyUsageCaBits, EkuNoClientAuth, NotYetValid, Expired, TrustDomainUnknown, ChainUntrusted,
        UnknownLocalCaller, PeerProcessChanged, ExecutableReplaced, PeerCredentialsUnavailable, NotLoopback,
        BearerTokenMissing, BearerTokenMalformed, BearerTokenInsecureTransport, BearerTokenIssuerUnknown, BearerTokenAlgorithmRefused, BearerTokenKeyUnknown,
        BearerTokenSignatureInvalid, BearerTokenAudienceMismatch, BearerTokenExpired, BearerTokenNotYetValid, BearerTokenLifetimeTooLong, BearerTokenUnmapped, BearerIssuerUnavailable,
        DeniedByRule, NoRuleMatched, GrantRequired, ContextFactsUnknown, DecisionHookDenied, MethodOverride, ReadDenied, ReadOutsideRoute, AwsHeaderNotAllowed, AwsCopySourceInvalid, CredentialClassNotAllowed, InjectorRefused,
        ForwardHostNotAllowed, TunnelHostMismatch, ConnectMalformed, ForwardAddressNotAllowed,
        McpArgumentRefused, McpInvalidMessage, McpMessageTooLarge, McpNotJson, McpUserTokenInvalid, McpUserIssuerUnavailable, McpAnswerUnfiltered, UserSecretMissing,
        NoRoute, PayloadTooLarge, BodyUnreadable,
        CredentialUnavailable, CredentialInvalid, IssuerUnavailable, BodyBufferFull, DecisionHookUnavailable, ConfigChanged, ClientCertificateUnavailable, UpstreamUnavailable, UpstreamTimeout, InternalError,
        DbNoUser, DbUnknownDatabase, DbUnknownRole, DbProtocolViolation, DbUpstreamAuthDowngrade, DbUpstreamLoginRefused, DbUpstreamLoginFailed,
        NotAnAdmin, AdminUnauthenticated, NoAdminEndpoint, MethodNotAllowed, InvalidJson, InvalidGrant, InvalidIdentity, InvalidStaleDays, InvalidInventoryQuery, UnknownCredential, UnknownGrant,
        GrantStoreUnavailable, NotReady,
        InvalidGrantRequest, GrantNotRequestable, TooManyGrantRequests, UnknownGrantRequest, NotAnApprover, SelfApproval, ApproverTokenInvalid, ApproverIssuerUnavailable,
        GrantRequestClosed, GrantRequestExpired, ConsoleReadOnly, ConsoleCrossOrigin,
    ];

    private static readonly FrozenDictionary<string, Refusal> ByReason = All.ToFrozenDictionary(r => r.Reason, StringComparer.Ordinal);

    /// <summary>The entry of a reason code produced elsewhere (the path guard, the SVID verifier, policy, an injector).</summary>
    /// <exception cref="KeyNotFoundException">The reason is not in the catalog: a bug, caught by the tests.</exception>
    public static Refusal Get(string reason) => ByReason.TryGetValue(reason, out var refusal) ? refusal
        : throw new KeyNotFoundException($"refusal reason '{reason}' is not in the catalog");

    /// <summary>The entry of a reason code, or <paramref name="fallback"/> when a plugin reports one the catalog does not know.</summary>
    public static Refusal GetOr(string reason, Refusal fallback) => ByReason.GetValueOrDefault(reason, fallback);

    private static Refusal Path(string reason) => new(400, reason, "Ambiguous request path", Refusal.Deny);

    private static Refusal Svid(string reason) => new(401, reason, "Workload identity not established", Refusal.Deny, RefusalScope.Both | RefusalScope.Database) { SqlState = "28000" };

    private static Refusal Bearer(string reason) => new(401, reason, "Workload identity not established", Refusal.Deny, RefusalScope.Both);

    private static Refusal Forbidden(string reason) => new(403, reason, "Forbidden by policy", Refusal.Deny);

    private static Refusal Policy(string reason) => Forbidden(reason) with { Scope = RefusalScope.Proxy | RefusalScope.Database, SqlState = "28000" };

    private static Refusal Db(int status, string reason, string title, string sqlState) =>
        new(status, reason, title, status >= 500 ? Refusal.Error : Refusal.Deny, RefusalScope.Database) { SqlState = sqlState };

    private static Refusal Admin(int status, string reason, string title) =>
        new(status, reason, title, status >= 500 ? Refusal.Error : Refusal.Deny, RefusalScope.Admin);
}
