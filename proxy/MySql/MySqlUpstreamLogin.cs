using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using SecretlessProxy.Databases;

namespace SecretlessProxy.MySql;

/// <summary>
/// Logs in to an upstream MySQL/MariaDB server: TCP, the server's greeting, TLS per <c>sslmode</c> (SSLRequest, then
/// the handshake with the CA file), the HandshakeResponse41 with the capabilities the gateway chose, and the auth
/// exchange: <c>mysql_native_password</c>, <c>caching_sha2_password</c> (fast path; full authentication as the
/// password over TLS, or RSA-OAEP with the server's key over plain TCP), auth switch requests. A method weaker than
/// the entry's <c>auth</c>, cleartext, and plugins the gateway does not speak are refused before the password is used.
/// </summary>
internal static class MySqlUpstreamLogin
{
    /// <summary>What the gateway asks of the upstream: user, database, the client's session flags, collation, attributes.</summary>
    public sealed record Request(string User, string? Database, uint SessionFlags, uint MaxPacket, byte Collation, IReadOnlyList<KeyValuePair<string, string>> Attributes);

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
            throw new MySqlUpstreamException(2003, "08S01", $"could not connect to the upstream {host}:{port} within {timeout.TotalSeconds:0.#} s", unavailable: true);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new MySqlUpstreamException(2003, "08S01", $"could not connect to the upstream {host}:{port} ({ex.SocketErrorCode})", unavailable: true);
        }
    }

    /// <summary>Reads only the greeting of a fresh connection (the capabilities and version the gateway's own greeting follows), then closes.</summary>
    public static async Task<ServerGreeting> ProbeAsync(DatabaseSettings db, CancellationToken cancellationToken)
    {
        using var socket = await ConnectSocketAsync(db.Host, db.Port, db.ConnectTimeout, cancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(db.ConnectTimeout);
        var (_, payload) = await MySqlWire.ReadPacketAsync(stream, MySqlWire.MaxLoginPacket, deadline.Token);
        return ServerGreeting.Parse(payload);
    }

    public static async Task<MySqlUpstream> LoginAsync(DatabaseSettings db, Request request, string password, CancellationToken cancellationToken)
    {
        var socket = await ConnectSocketAsync(db.Host, db.Port, db.ConnectTimeout, cancellationToken);
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(db.ConnectTimeout * 2);
            var (_, greetingPayload) = await MySqlWire.ReadPacketAsync(stream, MySqlWire.MaxLoginPacket, deadline.Token);
            var greeting = ServerGreeting.Parse(greetingPayload);
            var required = MySqlWire.Protocol41 | MySqlWire.SecureConnection | MySqlWire.PluginAuth;
            if ((greeting.Capabilities & required) != required)
            {
                throw new MySqlUpstreamException(2027, "08S01", $"the upstream ({greeting.ServerVersion}) lacks protocol 4.1 with plugin authentication");
            }
            // Flags that shape packets must agree on both sides; a semantic one the upstream lacks is left out, as the server would.
            var missing = request.SessionFlags & ~greeting.Capabilities & MySqlWire.FormatFlags;
            if (missing != 0)
            {
                throw new MySqlUpstreamException(2027, "08S01", $"the client asked for capabilities the upstream ({greeting.ServerVersion}) does not offer (0x{missing:X8}); the gateway relays packets verbatim, so both must agree");
            }
            var capabilities = (request.SessionFlags & (greeting.Capabilities | MySqlWire.IgnoreSigpipe)) | MySqlWire.LongPassword | MySqlWire.Protocol41 | MySqlWire.SecureConnection | MySqlWire.PluginAuth | MySqlWire.ConnectWithDb
                | (greeting.Capabilities & MySqlWire.PluginAuthLenencData)
                | (request.Attributes.Count > 0 ? greeting.Capabilities & MySqlWire.ConnectAttrs : 0);
            byte sequence = 1;
            var tls = false;
            if (db.SslMode != UpstreamSslMode.Disable)
            {
                if ((greeting.Capabilities & MySqlWire.Ssl) == 0)
                {
                    throw new MySqlUpstreamException(2026, "08S01", $"the upstream does not offer TLS, and sslmode is {Name(db.SslMode)}", unavailable: true);
                }
                capabilities |= MySqlWire.Ssl;
                await stream.WriteAsync(MySqlWire.Packet(sequence++, MySqlWire.SslRequest(capabilities, request.MaxPacket, request.Collation)), deadline.Token);
                stream = await StartTlsAsync(stream, db, deadline.Token);
                tls = true;
            }
            var plugin = db.MySqlMinimumAuth == MySqlUpstreamAuth.CachingSha2Password ? MySqlWire.CachingSha2Password
                : greeting.Plugin is MySqlWire.NativePassword or MySqlWire.CachingSha2Password ? greeting.Plugin : MySqlWire.NativePassword;
            var response = new ClientHandshake
            {
                Capabilities = capabilities,
                MaxPacket = request.MaxPacket,
                Collation = request.Collation,
                User = request.User,
                AuthResponse = Scramble(plugin, password, greeting.Scramble),
                Database = request.Database ?? db.UpstreamDatabase,
                Plugin = plugin,
            };
            response.Attributes.AddRange(request.Attributes);
            await stream.WriteAsync(MySqlWire.Packet(sequence, response.Build()), deadline.Token);
            var (ok, method) = await AuthenticateAsync(stream, db, plugin, password, greeting.Scramble, tls, deadline.Token);
            return new MySqlUpstream(stream, greeting, capabilities, ok, method);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await stream.DisposeAsync();
            throw new MySqlUpstreamException(2013, "08S01", "the upstream did not complete the login in time", unavailable: true);
        }
        catch (IOException ex)
        {
            await stream.DisposeAsync();
            throw new MySqlUpstreamException(2013, "08S01", "the upstream closed the connection during the login (" + ex.GetType().Name + ")", unavailable: true);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    private static async Task<(byte[] Ok, string Method)> AuthenticateAsync(Stream stream, DatabaseSettings db, string plugin, string password, byte[] scramble, bool tls, CancellationToken cancellationToken)
    {
        var awaitingKey = false;
        for (var round = 0; round < 8; round++)
        {
            var (sequence, payload) = await MySqlWire.ReadPacketAsync(stream, MySqlWire.MaxLoginPacket, cancellationToken);
            if (payload.Length == 0)
            {
                throw new MySqlProtocolException("the upstream sent an empty packet during the login");
            }
            var next = (byte)(sequence + 1);
            switch (payload[0])
            {
                case MySqlWire.OkHeader:
                    return (payload, plugin);
                case MySqlWire.ErrHeader:
                    var (code, state, message) = MySqlWire.ParseErr(payload);
                    throw new MySqlUpstreamException(code, state, $"the upstream refused the login: {message}", upstreamRefused: true);
                case MySqlWire.EofHeader:
                    var reader = new PayloadReader(payload.AsSpan(1));
                    if (reader.Remaining == 0)
                    {
                        throw new MySqlUpstreamException(1045, "28000", "the upstream asked for the pre-4.1 password scramble; the gateway does not speak it", downgrade: true);
                    }
                    plugin = Encoding.ASCII.GetString(reader.NulTerminated(endOk: true));
                    var data = reader.Rest();
                    scramble = (data.Length > 0 && data[^1] == 0 ? data[..^1] : data).ToArray();
                    Require(db, plugin);
                    await stream.WriteAsync(MySqlWire.Packet(next, Scramble(plugin, password, scramble)), cancellationToken);
                    break;
                case MySqlWire.MoreDataHeader when plugin == MySqlWire.CachingSha2Password:
                    if (awaitingKey)
                    {
                        var pem = Encoding.ASCII.GetString(payload.AsSpan(1));
                        await stream.WriteAsync(MySqlWire.Packet(next, Encrypt(password, scramble, pem)), cancellationToken);
                        awaitingKey = false;
                        break;
                    }
                    if (payload.Length == 2 && payload[1] == 3)
                    {
                        // Fast authentication succeeded; the OK follows.
                        break;
                    }
                    if (payload.Length != 2 || payload[1] != 4)
                    {
                        throw new MySqlProtocolException("caching_sha2_password sent an unknown status");
                    }
                    if (tls)
                    {
                        await stream.WriteAsync(MySqlWire.Packet(next, Encoding.UTF8.GetBytes(password + "\0")), cancellationToken);
                    }
                    else if (db.ServerPublicKey is { } key)
                    {
                        await stream.WriteAsync(MySqlWire.Packet(next, Encrypt(password, scramble, key)), cancellationToken);
                    }
                    else if (db.GetServerPublicKey)
                    {
                        await stream.WriteAsync(MySqlWire.Packet(next, [2]), cancellationToken);
                        awaitingKey = true;
                    }
                    else
                    {
                        throw new MySqlUpstreamException(1045, "28000",
                            "the upstream asked for caching_sha2_password full authentication over plain TCP, and this database has no serverPublicKeyFile (nor getServerPublicKey: true); the password was not sent", downgrade: true);
                    }
                    break;
                default:
                    throw new MySqlProtocolException($"the upstream sent a packet starting 0x{payload[0]:X2} during the login");
            }
        }
        throw new MySqlProtocolException("the upstream's login exchange did not end");
    }

    private static byte[] Encrypt(string password, byte[] scramble, string pem)
    {
        try
        {
            return MySqlPassword.RsaEncrypt(password, scramble, pem);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw new MySqlUpstreamException(1045, "28000", "the upstream's RSA public key cannot be used (" + ex.GetType().Name + ")");
        }
    }

    private static void Require(DatabaseSettings db, string plugin)
    {
        switch (plugin)
        {
            case MySqlWire.CachingSha2Password:
                return;
            case MySqlWire.NativePassword when db.MySqlMinimumAuth == MySqlUpstreamAuth.NativePassword:
                return;
            case MySqlWire.NativePassword:
                throw new MySqlUpstreamException(1045, "28000", "the upstream asked for mysql_native_password; this database requires caching_sha2_password, so the password was not sent", downgrade: true);
            case MySqlWire.ClearPassword:
                throw new MySqlUpstreamException(1045, "28000", "the upstream asked for mysql_clear_password (the password in clear); the gateway never sends it so", downgrade: true);
            case MySqlWire.Ed25519:
                throw new MySqlUpstreamException(1045, "28000", "the upstream asked for MariaDB's client_ed25519, which the gateway does not speak; give the user mysql_native_password");
            default:
                throw new MySqlUpstreamException(1045, "28000", $"the upstream asked for authentication plugin {plugin}, which the gateway does not speak");
        }
    }

    private static byte[] Scramble(string plugin, string password, byte[] scramble) => plugin == MySqlWire.CachingSha2Password
        ? MySqlPassword.CachingSha2Scramble(password, scramble)
        : MySqlPassword.NativeScramble(password, scramble);

    private static async Task<Stream> StartTlsAsync(Stream stream, DatabaseSettings db, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
        var options = UpstreamTls.ClientOptions(db);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cancellationToken);
            return ssl;
        }
        catch (AuthenticationException ex)
        {
            await ssl.DisposeAsync();
            throw new MySqlUpstreamException(2026, "08S01", $"TLS to the upstream failed: {ex.Message}", unavailable: true);
        }
    }

    public static string Name(UpstreamSslMode mode) => mode switch
    {
        UpstreamSslMode.Disable => "disable",
        UpstreamSslMode.Require => "require",
        _ => "verify-full",
    };
}

/// <summary>An upstream login that failed: the MySQL error the client gets and a message without secrets.</summary>
internal sealed class MySqlUpstreamException(ushort code, string sqlState, string message, bool upstreamRefused = false, bool downgrade = false, bool unavailable = false) : Exception(message)
{
    public ushort Code { get; } = code;

    public string SqlState { get; } = sqlState;

    /// <summary>The upstream answered with an ERR packet (it is up, and refused).</summary>
    public bool UpstreamRefused { get; } = upstreamRefused;

    /// <summary>The upstream asked for a weaker method than configured.</summary>
    public bool Downgrade { get; } = downgrade;

    /// <summary>The upstream could not be reached, or broke off.</summary>
    public bool Unavailable { get; } = unavailable;
}

/// <summary>A logged-in upstream connection: its stream, the greeting (thread id, version), the capabilities in force and the final OK payload.</summary>
internal sealed class MySqlUpstream(Stream stream, ServerGreeting greeting, uint capabilities, byte[] ok, string method) : IAsyncDisposable
{
    public Stream Stream { get; } = stream;

    public ServerGreeting Greeting { get; } = greeting;

    /// <summary>The upstream's connection (thread) id, which <c>KILL</c> names.</summary>
    public uint ThreadId => Greeting.ConnectionId;

    public uint Capabilities { get; } = capabilities;

    /// <summary>The OK packet payload that ended the login.</summary>
    public byte[] Ok { get; } = ok;

    /// <summary>The plugin the gateway proved itself with.</summary>
    public string AuthMethod { get; } = method;

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
