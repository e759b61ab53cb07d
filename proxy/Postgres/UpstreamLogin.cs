using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SecretlessProxy.Postgres.Auth;

using SecretlessProxy.Databases;

namespace SecretlessProxy.Postgres;

/// <summary>
/// Logs in to an upstream PostgreSQL server for a caller: TCP, TLS per <c>sslmode</c>, the startup message, and the
/// authentication exchange (SCRAM-SHA-256, with -PLUS channel binding over TLS when offered; MD5; cleartext),
/// refusing any method weaker than configured and an <c>AuthenticationOk</c> that came before any proof, as libpq's
/// <c>require_auth</c> does. Returns the open connection with what the server sent after authentication.
/// </summary>
internal static class UpstreamLogin
{
    public static async Task<Socket> ConnectSocketAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, deadline.Token);
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new UpstreamException("08006", $"could not connect to the upstream {host}:{port} within {timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new UpstreamException("08006", $"could not connect to the upstream {host}:{port} ({ex.SocketErrorCode})");
        }
    }

    public static async Task<UpstreamConnection> LoginAsync(DatabaseSettings db, string user, string password, IEnumerable<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        var socket = await ConnectSocketAsync(db.Host, db.Port, db.ConnectTimeout, cancellationToken);
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(db.ConnectTimeout * 2);
            byte[]? channelBinding = null;
            if (db.SslMode != UpstreamSslMode.Disable)
            {
                (stream, channelBinding) = await StartTlsAsync(stream, db, deadline.Token);
            }
            var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
            var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
            var startup = new List<KeyValuePair<string, string>> { new("user", user), new("database", db.UpstreamDatabase) };
            startup.AddRange(parameters);
            await writer.WriteAsync(PgWire.Startup(startup), deadline.Token);
            var (pid, secret, afterAuth, method) = await AuthenticateAsync(reader, writer, db, user, password, channelBinding, deadline.Token);
            return new UpstreamConnection(stream, reader, writer, pid, secret, afterAuth) { AuthMethod = method };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await stream.DisposeAsync();
            throw new UpstreamException("08006", "the upstream did not complete the login in time");
        }
        catch (IOException ex)
        {
            await stream.DisposeAsync();
            throw new UpstreamException("08006", "the upstream closed the connection during the login (" + ex.GetType().Name + ")");
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    private static async Task<(Stream, byte[]?)> StartTlsAsync(Stream stream, DatabaseSettings db, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(PgWire.SslRequest(), cancellationToken);
        var answer = new byte[1];
        if (await stream.ReadAsync(answer, cancellationToken) != 1)
        {
            throw new UpstreamException("08006", "the upstream closed the connection instead of answering the SSLRequest");
        }
        if (answer[0] != (byte)'S')
        {
            throw new UpstreamException("08006", $"the upstream does not offer TLS (answered '{(char)answer[0]}'), and sslmode is {Name(db.SslMode)}");
        }
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        var options = UpstreamTls.ClientOptions(db);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken);
        }
        catch (AuthenticationException ex)
        {
            await ssl.DisposeAsync();
            throw new UpstreamException("08006", $"TLS to the upstream failed: {ex.Message}");
        }
        byte[]? binding = null;
        if (ssl.RemoteCertificate is { } remote)
        {
            using var certificate = X509CertificateLoader.LoadCertificate(remote.GetRawCertData());
            binding = TlsServerEndPoint.Hash(certificate);
        }
        return (ssl, binding);
    }

    private static async Task<(int Pid, int Secret, List<byte[]> AfterAuth, string Method)> AuthenticateAsync(PipeReader reader, PipeWriter writer, DatabaseSettings db, string user, string password,
        byte[]? channelBinding, CancellationToken cancellationToken)
    {
        var proven = false;
        var authenticated = false;
        var method = "none";
        ScramSha256Client? scram = null;
        var afterAuth = new List<byte[]>();
        int pid = 0, secret = 0;
        while (true)
        {
            var (type, payload) = await PgWire.ReadMessageAsync(reader, PgWire.MaxLoginMessageLength, cancellationToken);
            switch (type)
            {
                case PgWire.ErrorResponseType:
                    var fields = PgWire.Fields(payload);
                    throw new UpstreamException(fields.GetValueOrDefault('C') ?? "08006",
                        "the upstream refused the login: " + (fields.GetValueOrDefault('M') ?? "(no message)"), upstreamRefused: true);
                case PgWire.Authentication when !authenticated:
                    if (payload.Length < 4)
                    {
                        throw new PgProtocolException("an Authentication message without its code");
                    }
                    var code = BinaryPrimitives.ReadInt32BigEndian(payload);
                    switch (code)
                    {
                        case PgWire.AuthOk:
                            if (!proven)
                            {
                                throw new UpstreamException("28000", $"the upstream accepted the login without authentication; this database requires {Name(db.MinimumAuth)} or stronger", downgrade: true);
                            }
                            if (scram is not null)
                            {
                                throw new UpstreamException("28000", "the upstream ended SCRAM authentication without its final message");
                            }
                            authenticated = true;
                            break;
                        case PgWire.AuthCleartext:
                            Require(db, UpstreamAuth.Password, "cleartext password");
                            await writer.WriteAsync(PgWire.Password(Encoding.UTF8.GetBytes(password)), cancellationToken);
                            proven = true;
                            method = "password";
                            break;
                        case PgWire.AuthMd5:
                            Require(db, UpstreamAuth.Md5, "MD5");
                            if (payload.Length < 8)
                            {
                                throw new PgProtocolException("an MD5 request without its salt");
                            }
                            await writer.WriteAsync(PgWire.Password(PostgresPassword.Md5Response(user, password, payload.AsSpan(4, 4))), cancellationToken);
                            proven = true;
                            method = "md5";
                            break;
                        case PgWire.AuthSasl:
                            var mechanisms = Mechanisms(payload.AsSpan(4));
                            if (channelBinding is not null && mechanisms.Contains("SCRAM-SHA-256-PLUS"))
                            {
                                scram = new ScramSha256Client(password, channelBinding);
                            }
                            else if (mechanisms.Contains("SCRAM-SHA-256"))
                            {
                                scram = new ScramSha256Client(password);
                            }
                            else
                            {
                                throw new UpstreamException("28000", $"the upstream offers no SASL mechanism the gateway speaks ({string.Join(", ", mechanisms)})");
                            }
                            await writer.WriteAsync(PgWire.SaslInitialResponse(scram.Mechanism, scram.ClientFirstMessage()), cancellationToken);
                            method = scram.Mechanism.ToLowerInvariant();
                            break;
                        case PgWire.AuthSaslContinue when scram is not null:
                            await writer.WriteAsync(PgWire.SaslResponse(Checked(() => scram.ClientFinalMessage(payload.AsSpan(4)))), cancellationToken);
                            break;
                        case PgWire.AuthSaslFinal when scram is not null:
                            Checked(() =>
                            {
                                scram.VerifyServerFinal(payload.AsSpan(4));
                                return Array.Empty<byte>();
                            });
                            scram = null;
                            proven = true;
                            break;
                        default:
                            throw new UpstreamException("28000", $"the upstream asked for authentication method {code}, which the gateway does not speak");
                    }
                    break;
                case PgWire.ParameterStatus or PgWire.NoticeResponse or PgWire.NegotiateProtocolVersion when authenticated || type == PgWire.NoticeResponse:
                    if (type != PgWire.NegotiateProtocolVersion)
                    {
                        afterAuth.Add(PgWire.Message(type, payload));
                    }
                    break;
                case PgWire.BackendKeyData when authenticated:
                    if (payload.Length < 8)
                    {
                        throw new PgProtocolException("a BackendKeyData message without its key");
                    }
                    pid = BinaryPrimitives.ReadInt32BigEndian(payload);
                    secret = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(4));
                    break;
                case PgWire.ReadyForQuery when authenticated:
                    afterAuth.Add(PgWire.Message(type, payload));
                    return (pid, secret, afterAuth, method);
                default:
                    throw new PgProtocolException($"the upstream sent a '{(char)type}' message during the login");
            }
        }
    }

    private static void Require(DatabaseSettings db, UpstreamAuth offered, string what)
    {
        if (offered < db.MinimumAuth)
        {
            throw new UpstreamException("28000", $"the upstream asked for {what} authentication; this database requires {Name(db.MinimumAuth)} or stronger, so the password was not sent", downgrade: true);
        }
    }

    private static byte[] Checked(Func<byte[]> step)
    {
        try
        {
            return step();
        }
        catch (ScramException ex)
        {
            throw new UpstreamException("28000", "SCRAM authentication with the upstream failed: " + ex.Message);
        }
    }

    private static List<string> Mechanisms(ReadOnlySpan<byte> list)
    {
        var result = new List<string>();
        while (list.Length > 0 && list[0] != 0)
        {
            var end = list.IndexOf((byte)0);
            if (end < 0)
            {
                break;
            }
            result.Add(Encoding.ASCII.GetString(list[..end]));
            list = list[(end + 1)..];
        }
        return result;
    }

    public static string Name(UpstreamAuth auth) => auth switch
    {
        UpstreamAuth.Password => "password",
        UpstreamAuth.Md5 => "md5",
        _ => "scram-sha-256",
    };

    public static string Name(UpstreamSslMode mode) => mode switch
    {
        UpstreamSslMode.Disable => "disable",
        UpstreamSslMode.Require => "require",
        _ => "verify-full",
    };
}

/// <summary>An upstream login that failed: the SQLSTATE the client gets and a message without secrets.</summary>
internal sealed class UpstreamException(string sqlState, string message, bool upstreamRefused = false, bool downgrade = false) : Exception(message)
{
    public string SqlState { get; } = sqlState;

    /// <summary>The upstream answered with an ErrorResponse (it is up, and refused).</summary>
    public bool UpstreamRefused { get; } = upstreamRefused;

    /// <summary>The upstream asked for a weaker method than configured (or none).</summary>
    public bool Downgrade { get; } = downgrade;
}

/// <summary>A logged-in upstream connection: its stream and pipes, the backend key, and the messages after authentication up to ReadyForQuery.</summary>
internal sealed class UpstreamConnection(Stream stream, PipeReader reader, PipeWriter writer, int backendPid, int backendSecret, List<byte[]> afterAuth) : IAsyncDisposable
{
    public Stream Stream { get; } = stream;

    public PipeReader Reader { get; } = reader;

    public PipeWriter Writer { get; } = writer;

    public int BackendPid { get; } = backendPid;

    public int BackendSecret { get; } = backendSecret;

    /// <summary>ParameterStatus and notices, then ReadyForQuery last.</summary>
    public List<byte[]> AfterAuth { get; } = afterAuth;

    /// <summary>How the gateway proved itself upstream: <c>scram-sha-256-plus</c>, <c>scram-sha-256</c>, <c>md5</c> or <c>password</c>.</summary>
    public string AuthMethod { get; init; } = "none";

    public async ValueTask DisposeAsync()
    {
        await Reader.CompleteAsync();
        await Writer.CompleteAsync();
        await Stream.DisposeAsync();
    }
}
