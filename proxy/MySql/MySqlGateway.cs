using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Configuration;
using SecretlessProxy.Databases;
using SecretlessProxy.Decisions;
using SecretlessProxy.Identity;
using SecretlessProxy.Listeners;
using SecretlessProxy.Pipeline;
using SecretlessProxy.Refusals;

namespace SecretlessProxy.MySql;

/// <summary>
/// The MySQL/MariaDB front-end: one session per client connection. It sends its own HandshakeV10 greeting (its
/// capabilities, a fresh scramble, a connection id of its own), answers SSLRequest with TLS and the caller's
/// X.509-SVID (or takes the local attestors' word), reads the HandshakeResponse41 (the client's password, if any, is
/// discarded), decides by policy per database and user, logs in upstream with a credential the client never sees,
/// hands the client the upstream's OK, and then relays packets verbatim both ways; <c>KILL [QUERY] id</c> naming a
/// gateway connection id is translated to that session's upstream thread. A refusal is an ERR packet (1045/28000 for
/// access) and one decision record per session.
/// </summary>
internal sealed partial class MySqlGateway(ConfigManager configs, AccessDecider decider, RequestAudit audit, MySqlSessions sessions, MySqlUpstreamProbe probe, TimeProvider time,
    Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime, ILogger<MySqlGateway> logger)
{
    /// <summary>The version the greeting names when the upstreams do not share one.</summary>
    public const string DefaultServerVersion = "8.0.0-secretless-proxy";

    /// <summary>How long a client has from connecting until it is logged in (MySQL's connect_timeout is 10 s; a TLS handshake and an upstream login fit in 30).</summary>
    public static readonly TimeSpan LoginTimeout = TimeSpan.FromSeconds(30);

    public async Task HandleAsync(ConnectionContext connection, ListenerSettings startup)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        using var deadline = new CancellationTokenSource(LoginTimeout);
        var cancellationToken = deadline.Token;
        var record = new DecisionRecord
        {
            StartedAt = System.Diagnostics.Stopwatch.GetTimestamp(),
            Time = time.GetUtcNow(),
            RequestId = connection.ConnectionId,
            TraceId = TraceIds.New(),
            Listener = startup.Name,
            Protocol = "mysql",
        };
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        SslStream? tls = null;
        MySqlUpstream? upstream = null;
        var session = sessions.Register();
        var started = false;
        var written = false;
        byte next = 1;
        try
        {
            var config = configs.Current;
            var settings = config.Listener(startup.Name) ?? startup;
            if (settings.Attestor is { } attestor)
            {
                record.ListenerAttestation = AttestationKinds.Name(attestor);
            }
            var greetings = await probe.GreetingsAsync(config.Databases.Values.Where(d => d.Engine == DatabaseEngine.MySql), cancellationToken);
            var offered = greetings.Aggregate(MySqlWire.Relayable, (all, g) => all & (g.Capabilities | MySqlWire.LoginFlags)) | MySqlWire.Protocol41;
            if (settings.Tls is not null)
            {
                offered |= MySqlWire.Ssl;
            }
            var versions = greetings.Select(g => g.ServerVersion).Distinct(StringComparer.Ordinal).ToList();
            var version = versions.Count == 1 ? versions[0] : DefaultServerVersion;
            var collation = greetings.Select(g => g.Collation).FirstOrDefault(c => c != 0, MySqlWire.DefaultCollation);
            await output.WriteAsync(MySqlWire.Packet(0, MySqlWire.Greeting(version, session.Id, MySqlWire.NewScramble(), offered, collation, MySqlWire.NativePassword)), cancellationToken);

            var packet = await MySqlWire.ReadPacketAsync(input, MySqlWire.MaxLoginPacket, cancellationToken);
            if (packet is null)
            {
                return;
            }
            started = true;
            next = (byte)(packet.Value.Sequence + 1);
            if (ClientHandshake.IsSslRequest(packet.Value.Payload))
            {
                if (settings.Tls is null)
                {
                    throw new MySqlProtocolException("an SSLRequest, and this listener does not offer TLS");
                }
                // The server does not answer an SSLRequest: a client sends its ClientHello right after it, so what is
                // buffered now is the start of the handshake. It is read by the TLS layer only (the SslStream reads the
                // same pipe); plaintext there fails the handshake, and no byte read before TLS is taken as coming through it.
                tls = await HandshakeAsync(connection, settings, config, cancellationToken);
                if (tls is null)
                {
                    record.Outcome = DecisionRecord.Deny;
                    record.Reason = "tls_handshake_failed";
                    return;
                }
                input = PipeReader.Create(tls, new StreamPipeReaderOptions(leaveOpen: true));
                output = PipeWriter.Create(tls, new StreamPipeWriterOptions(leaveOpen: true));
                packet = await MySqlWire.ReadPacketAsync(input, MySqlWire.MaxLoginPacket, cancellationToken);
                if (packet is null)
                {
                    return;
                }
                next = (byte)(packet.Value.Sequence + 1);
                if (ClientHandshake.IsSslRequest(packet.Value.Payload))
                {
                    throw new MySqlProtocolException("an SSLRequest after TLS was established");
                }
            }
            var hello = ClientHandshake.Parse(packet.Value.Payload);
            // The client's answer to the gateway's scramble proves nothing the gateway uses: it is discarded.
            Array.Clear(hello.AuthResponse);
            var chosen = hello.Capabilities & offered;
            if (hello.Plugin is { } plugin && plugin != MySqlWire.NativePassword && (chosen & MySqlWire.PluginAuth) != 0)
            {
                // A client that answered with another plugin (caching_sha2_password, say) is switched to the greeting's, as a server would.
                await output.WriteAsync(MySqlWire.Packet(next, MySqlWire.AuthSwitch(MySqlWire.NativePassword, MySqlWire.NewScramble())), cancellationToken);
                var answer = await MySqlWire.ReadPacketAsync(input, MySqlWire.MaxLoginPacket, cancellationToken);
                if (answer is null)
                {
                    return;
                }
                Array.Clear(answer.Value.Payload);
                next = (byte)(answer.Value.Sequence + 1);
            }

            var user = hello.User;
            record.Method = user;
            if (user.Length == 0)
            {
                await RefuseAsync(output, next, record, RefusalCatalog.DbNoUser, "no MySQL user name in the handshake response", cancellationToken);
                return;
            }
            var named = (chosen & MySqlWire.ConnectWithDb) != 0 && hello.Database is { Length: > 0 } given ? given : null;
            var candidates = config.Databases.Values.Where(d => d.Engine == DatabaseEngine.MySql).ToList();
            var database = named ?? (candidates.Where(d => d.Roles.ContainsKey(user)).Select(d => d.Name).ToList() is [var only] ? only : null);
            record.Route = database ?? "";

            var feature = connection.Features.Get<IWorkloadIdentityFeature>();
            if (settings.Tls is not null && tls is null)
            {
                await RefuseAsync(output, next, record, RefusalCatalog.NoCertificate,
                    "this gateway listener requires TLS with your X.509-SVID: connect with --ssl-mode=VERIFY_IDENTITY (mariadb: --ssl-verify-server-cert) --ssl-cert=svid.pem --ssl-key=svid.key --ssl-ca=ca.pem", cancellationToken);
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
                await RefuseAsync(output, next, record, RefusalCatalog.Get(attestation.Reason ?? RefusalCatalog.NoCertificate.Reason), "workload identity not established: " + attestation.Detail, cancellationToken);
                return;
            }
            record.Caller = identity;
            record.IdentityDoneAt = System.Diagnostics.Stopwatch.GetTimestamp();

            if (database is null)
            {
                await RefuseAsync(output, next, record, RefusalCatalog.DbUnknownDatabase,
                    $"no database named, and user \"{user}\" is served on {(candidates.Any(d => d.Roles.ContainsKey(user)) ? "several" : "none")} of this gateway's databases: connect with a database (mysql -D NAME)", cancellationToken);
                return;
            }
            if (!config.Databases.TryGetValue(database, out var db) || db.Engine != DatabaseEngine.MySql)
            {
                await RefuseAsync(output, next, record, RefusalCatalog.DbUnknownDatabase, $"database \"{database}\" is not served by this gateway", cancellationToken);
                return;
            }
            if (!db.Roles.TryGetValue(user, out var role) || !config.Credentials.TryGetValue(role.Credential, out var binding))
            {
                await RefuseAsync(output, next, record, RefusalCatalog.DbUnknownRole,
                    $"user \"{user}\" is not configured for database \"{database}\"; the gateway logs in as one of: {string.Join(", ", db.Roles.Keys.Order(StringComparer.Ordinal))}", cancellationToken);
                return;
            }
            var decision = decider.Decide(config, identity, new AccessRequest(db.PolicyRoute, user, "") { Listener = record.Listener }, record);
            record.Route = database;
            if (decision.Refusal is not null)
            {
                await RefuseAsync(output, next, record, decision.Refusal, $"access to database \"{database}\" as user \"{user}\" denied: {decision.Decision.Detail}", cancellationToken);
                return;
            }
            var credential = await decider.CredentialAsync(binding, identity, db.PolicyRoute, record, cancellationToken);
            if (credential.Credential is not { } secret)
            {
                await RefuseAsync(output, next, record, credential.Refusal!, $"the gateway could not obtain the credential for user \"{user}\"", cancellationToken);
                return;
            }
            record.UpstreamSentAt = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                upstream = await MySqlUpstreamLogin.LoginAsync(db,
                    new MySqlUpstreamLogin.Request(role.UpstreamUser ?? secret.Username ?? user, db.UpstreamDatabase, chosen & MySqlWire.SessionFlags, hello.MaxPacket, hello.Collation,
                        (chosen & MySqlWire.ConnectAttrs) != 0 ? hello.Attributes : []),
                    secret.Secret.Reveal(), cancellationToken);
            }
            catch (MySqlUpstreamException ex)
            {
                var refusal = ex.Downgrade ? RefusalCatalog.DbUpstreamAuthDowngrade
                    : ex.UpstreamRefused ? RefusalCatalog.DbUpstreamLoginRefused
                    : ex.Unavailable ? RefusalCatalog.UpstreamUnavailable : RefusalCatalog.DbUpstreamLoginFailed;
                Log.UpstreamFailed(logger, database, user, refusal.Reason, ex.Message);
                await RefuseAsync(output, next, record, refusal, ex.Message, ex.UpstreamRefused ? (ex.Code, ex.SqlState) : null, cancellationToken);
                return;
            }
            catch (MySqlProtocolException ex)
            {
                Log.UpstreamFailed(logger, database, user, RefusalCatalog.DbUpstreamLoginFailed.Reason, ex.Message);
                await RefuseAsync(output, next, record, RefusalCatalog.DbUpstreamLoginFailed, "the upstream broke the protocol during the login: " + ex.Message, cancellationToken);
                return;
            }
            probe.Learned(db, upstream.Greeting);
            record.UpstreamAnsweredAt = System.Diagnostics.Stopwatch.GetTimestamp();
            record.UpstreamAuth = upstream.AuthMethod;
            session.LoggedIn(identity.SpiffeId.Value, db, upstream.ThreadId);
            await output.WriteAsync(MySqlWire.Packet(next, upstream.Ok), cancellationToken);
            record.Outcome = DecisionRecord.Allow;
            record.CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            audit.Completed(record);
            written = true;

            await new MySqlRelay(input, output, upstream, session, sessions).RunAsync(lifetime.ApplicationStopping);
        }
        catch (MySqlProtocolException ex)
        {
            Log.ProtocolViolation(logger, startup.Name, connection.ConnectionId, ex.Message);
            record.Outcome = DecisionRecord.Deny;
            record.Reason = RefusalCatalog.DbProtocolViolation.Reason;
            var (code, state) = ErrorOf(RefusalCatalog.DbProtocolViolation);
            record.SqlState = state;
            started = true;
            await ClientConnection.TryWriteAsync(output, MySqlWire.Packet(next, MySqlWire.Err(code, state, "Bad handshake: protocol violation: " + ex.Message)));
            await ClientConnection.DrainAsync(input, output);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.LoginTimedOut(logger, startup.Name, connection.ConnectionId, LoginTimeout.TotalSeconds);
            record.Outcome = DecisionRecord.Error;
            record.Reason ??= "login_timeout";
            await ClientConnection.TryWriteAsync(output, MySqlWire.Packet(next, MySqlWire.Err(1159, "08S01", $"the login did not complete within {LoginTimeout.TotalSeconds:0} s")));
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or ObjectDisposedException)
        {
            record.Outcome = DecisionRecord.Error;
            record.Reason ??= "client_disconnected";
        }
        catch (Exception ex)
        {
            Log.Unhandled(logger, connection.ConnectionId, ex.GetType().Name);
            record.Outcome = DecisionRecord.Error;
            record.Reason = RefusalCatalog.InternalError.Reason;
            await ClientConnection.TryWriteAsync(output, MySqlWire.Packet(next, MySqlWire.Err(1815, "HY000", "internal gateway error; the connection id identifies it in the gateway's logs: " + connection.ConnectionId)));
        }
        finally
        {
            sessions.Remove(session);
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

    /// <summary>The MySQL error number and SQLSTATE of a refusal: access 1045/28000, unknown database 1049/42000, protocol 1043/08S01, upstream 2003/08S01.</summary>
    public static (ushort Code, string SqlState) ErrorOf(Refusal refusal)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        return refusal.SqlState switch
        {
            "3D000" => (1049, "42000"),
            "08P01" => (1043, "08S01"),
            "XX000" => (1815, "HY000"),
            { } state when state.StartsWith("08", StringComparison.Ordinal) => (2003, "08S01"),
            _ => (1045, "28000"),
        };
    }

    private async Task<SslStream?> HandshakeAsync(ConnectionContext connection, ListenerSettings settings, ProxyConfig config, CancellationToken cancellationToken)
    {
        var svid = new SvidConnection();
        connection.Features.Set<IWorkloadIdentityFeature>(svid);
        var options = X509SvidAttestor.HandshakeOptions(svid, settings.Tls!.Certificate, settings.Tls.Bundles, [], config, time,
            refused => Log.SvidRefused(logger, settings.Name, connection.ConnectionId, refused.Reason!, refused.Detail!));
        // MySQL clients send no ALPN, and the protocol has no name to offer.
        options.ApplicationProtocols = null;
        var ssl = new SslStream(new DuplexPipeStream(connection.Transport), leaveInnerStreamOpen: false);
        try
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            handshake.CancelAfter(TimeSpan.FromSeconds(10));
            await ssl.AuthenticateAsServerAsync(options, handshake.Token);
            return ssl;
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            Log.HandshakeFailed(logger, settings.Name, connection.ConnectionId, ex.GetType().Name);
            await ssl.DisposeAsync();
            return null;
        }
    }

    private Task RefuseAsync(PipeWriter output, byte sequence, DecisionRecord record, Refusal refusal, string message, CancellationToken cancellationToken) =>
        RefuseAsync(output, sequence, record, refusal, message, null, cancellationToken);

    /// <param name="upstreamError">The upstream's own error number and SQLSTATE, passed on when it refused the login.</param>
    private async Task RefuseAsync(PipeWriter output, byte sequence, DecisionRecord record, Refusal refusal, string message, (ushort Code, string SqlState)? upstreamError, CancellationToken cancellationToken)
    {
        var (code, state) = upstreamError ?? ErrorOf(refusal);
        record.Outcome = refusal.AuditOutcome;
        record.Reason = refusal.Reason;
        record.SqlState = state;
        Log.Refused(logger, record.Listener ?? "", record.Identity ?? "(unknown)", record.Route ?? "", refusal.Reason);
        await output.WriteAsync(MySqlWire.Packet(sequence, MySqlWire.Err(code, state, message)), cancellationToken);
    }



    private static partial class Log
    {
        [LoggerMessage(EventId = 5201, Level = LogLevel.Information, Message = "MySQL login refused on listener {Listener} for {Identity} (database {Database}): {Reason}")]
        public static partial void Refused(ILogger logger, string listener, string identity, string database, string reason);

        [LoggerMessage(EventId = 5202, Level = LogLevel.Warning, Message = "MySQL protocol violation on listener {Listener} (connection {ConnectionId}): {Detail}")]
        public static partial void ProtocolViolation(ILogger logger, string listener, string connectionId, string detail);

        [LoggerMessage(EventId = 5203, Level = LogLevel.Warning, Message = "Upstream MySQL login to database {Database} as {User} failed ({Reason}): {Detail}")]
        public static partial void UpstreamFailed(ILogger logger, string database, string user, string reason, string detail);

        [LoggerMessage(EventId = 5205, Level = LogLevel.Warning, Message = "Client certificate refused on MySQL listener {Listener} (connection {ConnectionId}): {Reason}: {Detail}")]
        public static partial void SvidRefused(ILogger logger, string listener, string connectionId, string reason, string detail);

        [LoggerMessage(EventId = 5206, Level = LogLevel.Information, Message = "TLS handshake failed on MySQL listener {Listener} (connection {ConnectionId}): {ExceptionType}")]
        public static partial void HandshakeFailed(ILogger logger, string listener, string connectionId, string exceptionType);

        [LoggerMessage(EventId = 5207, Level = LogLevel.Error, Message = "Unhandled {ExceptionType} in MySQL session {ConnectionId}")]
        public static partial void Unhandled(ILogger logger, string connectionId, string exceptionType);

        [LoggerMessage(EventId = 5208, Level = LogLevel.Information, Message = "MySQL client on listener {Listener} (connection {ConnectionId}) did not log in within {Seconds} s")]
        public static partial void LoginTimedOut(ILogger logger, string listener, string connectionId, double seconds);
    }
}
