using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Databases;
using SecretlessProxy.Configuration;
using SecretlessProxy.Decisions;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Pipeline;
using SecretlessProxy.Refusals;


namespace SecretlessProxy.Postgres;

/// <summary>
/// The PostgreSQL front-end: one session per client connection. It answers the startup phase itself (TLS after
/// <c>SSLRequest</c> with the caller's X.509-SVID, or the local attestors), decides by policy per database and role,
/// logs in upstream with a credential the client never sees, hands the client a cancel key of its own, and then
/// relays bytes both ways. Every refusal is an <c>ErrorResponse</c> with a SQLSTATE and a reason, and one decision
/// record per session.
/// </summary>
internal sealed partial class PostgresGateway(ConfigManager configs, AccessDecider decider, RequestAudit audit, CancelRegistry cancels, TimeProvider time,
    Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime, ILogger<PostgresGateway> logger)
{
    private static readonly SslApplicationProtocol PostgresAlpn = new("postgresql"u8.ToArray());

    /// <summary>How long a client has from connecting until it is logged in (PostgreSQL's authentication_timeout is 60 s).</summary>
    public static readonly TimeSpan LoginTimeout = TimeSpan.FromSeconds(30);

    public async Task HandleAsync(ConnectionContext connection, ListenerSettings startup)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        // Not ConnectionClosed: Kestrel fires it when the client half-closes, and a client that sends its last bytes and
        // then shuts down its side still deserves the answer. The login must finish within the deadline (as PostgreSQL's
        // authentication_timeout); after it, the relay runs until either side closes.
        using var deadline = new CancellationTokenSource(LoginTimeout);
        var cancellationToken = deadline.Token;
        var record = new DecisionRecord
        {
            StartedAt = System.Diagnostics.Stopwatch.GetTimestamp(),
            Time = time.GetUtcNow(),
            RequestId = connection.ConnectionId,
            TraceId = TraceIds.New(),
            Listener = startup.Name,
            Protocol = "postgres",
        };
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        SslStream? tls = null;
        UpstreamConnection? upstream = null;
        (int Pid, int Secret)? key = null;
        var started = false;
        var written = false;
        try
        {
            var config = configs.Current;
            var settings = config.Listener(startup.Name) ?? startup;
            if (settings.Attestor is { } attestor)
            {
                record.ListenerAttestation = AttestationKinds.Name(attestor);
            }
            Dictionary<string, string>? parameters = null;
            for (var round = 0; parameters is null; round++)
            {
                if (round > 3)
                {
                    throw new PgProtocolException("too many negotiation requests before the startup message");
                }
                var packet = await PgWire.ReadStartupAsync(input, cancellationToken);
                if (packet is null)
                {
                    return;
                }
                started = true;
                var code = BinaryPrimitives.ReadInt32BigEndian(packet);
                switch (code)
                {
                    case PgWire.SslRequestCode when packet.Length == 4:
                        if (tls is not null)
                        {
                            throw new PgProtocolException("SSLRequest after TLS was established");
                        }
                        if (settings.Tls is null)
                        {
                            await output.WriteAsync("N"u8.ToArray(), cancellationToken);
                            continue;
                        }
                        // CVE-2021-23214: nothing the client sent before the handshake may be read as if it came after it.
                        if (PgWire.HasBufferedBytes(input))
                        {
                            throw new PgProtocolException("received unencrypted data after the SSLRequest");
                        }
                        await output.WriteAsync("S"u8.ToArray(), cancellationToken);
                        tls = await HandshakeAsync(connection, settings, config, cancellationToken);
                        if (tls is null)
                        {
                            record.Outcome = DecisionRecord.Deny;
                            record.Reason = "tls_handshake_failed";
                            return;
                        }
                        input = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
                        output = PipeWriter.Create(tls, new StreamPipeWriterOptions(leaveOpen: true));
                        continue;
                    case PgWire.GssEncRequestCode when packet.Length == 4:
                        if (tls is not null)
                        {
                            throw new PgProtocolException("GSSENCRequest after TLS was established");
                        }
                        await output.WriteAsync("N"u8.ToArray(), cancellationToken);
                        continue;
                    case PgWire.CancelRequestCode when packet.Length == 12 && round == 0:
                        var forwarded = await cancels.CancelAsync(BinaryPrimitives.ReadInt32BigEndian(packet.AsSpan(4)), BinaryPrimitives.ReadInt32BigEndian(packet.AsSpan(8)), cancellationToken);
                        Log.Cancel(logger, startup.Name, forwarded);
                        started = false;
                        return;
                    default:
                        if (code >> 16 != 3)
                        {
                            throw new PgProtocolException($"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: the gateway speaks 3.0");
                        }
                        parameters = PgWire.Parameters(packet.AsSpan(4));
                        var unknown = parameters.Keys.Where(k => k.StartsWith("_pq_.", StringComparison.Ordinal)).ToList();
                        if ((code & 0xFFFF) != 0 || unknown.Count > 0)
                        {
                            await output.WriteAsync(PgWire.NegotiateVersion(0, unknown), cancellationToken);
                        }
                        break;
                }
            }

            if (!parameters.TryGetValue("user", out var user) || user.Length == 0)
            {
                await RefuseAsync(output, record, RefusalCatalog.DbNoUser, "no PostgreSQL user name specified in startup packet", null, cancellationToken);
                return;
            }
            var database = parameters.GetValueOrDefault("database") is { Length: > 0 } named ? named : user;
            record.Route = database;
            record.Method = user;

            var feature = connection.Features.Get<IWorkloadIdentityFeature>();
            if (settings.Tls is not null && tls is null)
            {
                await RefuseAsync(output, record, RefusalCatalog.NoCertificate, "this gateway listener requires TLS with your X.509-SVID",
                    "connect with sslmode=verify-full sslcert=svid.pem sslkey=svid.key sslrootcert=ca.pem", cancellationToken);
                return;
            }
            var attestation = feature?.Current(new AttestationScope(config, record.Time, settings.Tls?.Bundles, config.LocalIdentities,
                config.LocalIdentities.Named(settings.IdentityName)), out _) ?? SvidConnection.NoCertificate;
            if (feature is UnixPeerConnection { Process: { } peer })
            {
                record.Peer = peer;
            }
            if (attestation.Identity is not { } identity)
            {
                await RefuseAsync(output, record, RefusalCatalog.Get(attestation.Reason ?? RefusalCatalog.NoCertificate.Reason), "workload identity not established: " + attestation.Detail, null, cancellationToken);
                return;
            }
            record.Caller = identity;
            record.IdentityDoneAt = System.Diagnostics.Stopwatch.GetTimestamp();

            if (!config.Databases.TryGetValue(database, out var db) || db.Engine != DatabaseEngine.Postgres)
            {
                await RefuseAsync(output, record, RefusalCatalog.DbUnknownDatabase, $"database \"{database}\" is not served by this gateway", null, cancellationToken);
                return;
            }
            if (!db.Roles.TryGetValue(user, out var role) || !config.Credentials.TryGetValue(role.Credential, out var binding))
            {
                await RefuseAsync(output, record, RefusalCatalog.DbUnknownRole, $"role \"{user}\" is not configured for database \"{database}\"",
                    "the gateway logs in as one of: " + string.Join(", ", db.Roles.Keys.Order(StringComparer.Ordinal)), cancellationToken);
                return;
            }
            var decision = decider.Decide(config, identity, new AccessRequest(db.PolicyRoute, user, "") { Listener = record.Listener }, record);
            record.Route = database;
            if (decision.Refusal is not null)
            {
                await RefuseAsync(output, record, decision.Refusal,
                    $"access to database \"{database}\" as role \"{user}\" denied: {decision.Decision.Detail}", null, cancellationToken);
                return;
            }
            var credential = await decider.CredentialAsync(binding, identity, db.PolicyRoute, record, cancellationToken);
            if (credential.Credential is not { } secret)
            {
                await RefuseAsync(output, record, credential.Refusal!, $"the gateway could not obtain the credential for role \"{user}\"", null, cancellationToken);
                return;
            }
            var pass = parameters.Where(p => p.Key is not ("user" or "database")
                && (db.PassParameters.Contains(p.Key) || (p.Key == "options" && db.AllowOptions))).ToList();
            record.UpstreamSentAt = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                upstream = await UpstreamLogin.LoginAsync(db, role.UpstreamUser ?? secret.Username ?? user, secret.Secret.Reveal(), pass, cancellationToken);
            }
            catch (UpstreamException ex)
            {
                var refusal = ex.Downgrade ? RefusalCatalog.DbUpstreamAuthDowngrade
                    : ex.UpstreamRefused ? RefusalCatalog.DbUpstreamLoginRefused with { SqlState = ex.SqlState }
                    : ex.SqlState == "08006" ? RefusalCatalog.UpstreamUnavailable : RefusalCatalog.DbUpstreamLoginFailed;
                Log.UpstreamFailed(logger, database, user, refusal.Reason, ex.Message);
                await RefuseAsync(output, record, refusal, ex.Message, null, cancellationToken);
                return;
            }
            record.UpstreamAnsweredAt = System.Diagnostics.Stopwatch.GetTimestamp();
            record.UpstreamAuth = upstream.AuthMethod;

            key = cancels.Register(new CancelTarget(db.Host, db.Port, upstream.BackendPid, upstream.BackendSecret, db.ConnectTimeout));
            await output.WriteAsync(PgWire.AuthenticationOk(), cancellationToken);
            for (var i = 0; i < upstream.AfterAuth.Count - 1; i++)
            {
                await output.WriteAsync(upstream.AfterAuth[i], cancellationToken);
            }
            await output.WriteAsync(PgWire.BackendKey(key.Value.Pid, key.Value.Secret), cancellationToken);
            await output.WriteAsync(upstream.AfterAuth[^1], cancellationToken);
            record.Outcome = DecisionRecord.Allow;
            record.CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            audit.Completed(record);
            written = true;

            // Until either side closes, or the proxy stops (then both sides are closed rather than kept for the shutdown timeout).
            await DuplexRelay.RunAsync(input, output, upstream.Reader, upstream.Writer, lifetime.ApplicationStopping);
        }
        catch (PgProtocolException ex)
        {
            Log.ProtocolViolation(logger, startup.Name, connection.ConnectionId, ex.Message);
            record.Outcome = DecisionRecord.Deny;
            record.Reason = RefusalCatalog.DbProtocolViolation.Reason;
            record.SqlState = RefusalCatalog.DbProtocolViolation.SqlState;
            await ClientConnection.TryWriteAsync(output, PgWire.ErrorResponse(RefusalCatalog.DbProtocolViolation.SqlState!, "protocol violation: " + ex.Message));
            // Close our side, then take what the client still sends (briefly, bounded): closing with unread bytes would
            // reset the connection, and a reset can discard the error before the client reads it.
            await ClientConnection.DrainAsync(input, output);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.LoginTimedOut(logger, startup.Name, connection.ConnectionId, LoginTimeout.TotalSeconds);
            record.Outcome = DecisionRecord.Error;
            record.Reason ??= "login_timeout";
            await ClientConnection.TryWriteAsync(output, PgWire.ErrorResponse("08006", $"the login did not complete within {LoginTimeout.TotalSeconds:0} s"));
        }
        catch (IOException)
        {
            record.Outcome = DecisionRecord.Error;
            record.Reason ??= "client_disconnected";
        }
        catch (Exception ex)
        {
            Log.Unhandled(logger, connection.ConnectionId, ex.GetType().Name);
            record.Outcome = DecisionRecord.Error;
            record.Reason = RefusalCatalog.InternalError.Reason;
            await ClientConnection.TryWriteAsync(output, PgWire.ErrorResponse(RefusalCatalog.InternalError.SqlState!, "internal gateway error; the connection id identifies it in the gateway's logs", connection.ConnectionId));
        }
        finally
        {
            if (key is { } k)
            {
                cancels.Remove(k.Pid, k.Secret);
            }
            if (upstream is not null)
            {
                await upstream.DisposeAsync();
            }
            if (!written && started)
            {
                record.CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
                audit.Completed(record);
            }
            if (tls is not null)
            {
                await tls.DisposeAsync();
            }
        }
    }

    private async Task<SslStream?> HandshakeAsync(ConnectionContext connection, ListenerSettings settings, ProxyConfig config, CancellationToken cancellationToken)
    {
        var svid = new SvidConnection();
        connection.Features.Set<IWorkloadIdentityFeature>(svid);
        var options = X509SvidAttestor.HandshakeOptions(svid, settings.Tls!.Certificate, settings.Tls.Bundles, [PostgresAlpn], config, time,
            refused => Log.SvidRefused(logger, settings.Name, connection.ConnectionId, refused.Reason!, refused.Detail!));
        var ssl = new SslStream(new DuplexPipeStream(connection.Transport), leaveInnerStreamOpen: false);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(10));
            await ssl.AuthenticateAsServerAsync(options, deadline.Token);
            return ssl;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            Log.HandshakeFailed(logger, settings.Name, connection.ConnectionId, ex.GetType().Name);
            await ssl.DisposeAsync();
            return null;
        }
    }

    private async Task RefuseAsync(PipeWriter output, DecisionRecord record, Refusal refusal, string message, string? hint, CancellationToken cancellationToken)
    {
        record.Outcome = refusal.AuditOutcome;
        record.Reason = refusal.Reason;
        record.SqlState = refusal.SqlState ?? "28000";
        Log.Refused(logger, record.Listener ?? "", record.Identity ?? "(unknown)", record.Route ?? "", refusal.Reason);
        await output.WriteAsync(PgWire.ErrorResponse(record.SqlState, message, hint: hint), cancellationToken);
    }



    private static partial class Log
    {
        [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "PostgreSQL login refused on listener {Listener} for {Identity} (database {Database}): {Reason}")]
        public static partial void Refused(ILogger logger, string listener, string identity, string database, string reason);

        [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "PostgreSQL protocol violation on listener {Listener} (connection {ConnectionId}): {Detail}")]
        public static partial void ProtocolViolation(ILogger logger, string listener, string connectionId, string detail);

        [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Upstream login to database {Database} as {Role} failed ({Reason}): {Detail}")]
        public static partial void UpstreamFailed(ILogger logger, string database, string role, string reason, string detail);

        [LoggerMessage(EventId = 5004, Level = LogLevel.Debug, Message = "Cancel request on listener {Listener}: forwarded {Forwarded}")]
        public static partial void Cancel(ILogger logger, string listener, bool forwarded);

        [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Client certificate refused on PostgreSQL listener {Listener} (connection {ConnectionId}): {Reason}: {Detail}")]
        public static partial void SvidRefused(ILogger logger, string listener, string connectionId, string reason, string detail);

        [LoggerMessage(EventId = 5006, Level = LogLevel.Information, Message = "TLS handshake failed on PostgreSQL listener {Listener} (connection {ConnectionId}): {ExceptionType}")]
        public static partial void HandshakeFailed(ILogger logger, string listener, string connectionId, string exceptionType);

        [LoggerMessage(EventId = 5008, Level = LogLevel.Information, Message = "PostgreSQL client on listener {Listener} (connection {ConnectionId}) did not log in within {Seconds} s")]
        public static partial void LoginTimedOut(ILogger logger, string listener, string connectionId, double seconds);

        [LoggerMessage(EventId = 5007, Level = LogLevel.Error, Message = "Unhandled {ExceptionType} in PostgreSQL session {ConnectionId}")]
        public static partial void Unhandled(ILogger logger, string connectionId, string exceptionType);
    }
}
