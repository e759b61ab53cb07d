using System.Collections.Frozen;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using SecretlessProxy.Databases;
using SecretlessProxy.MySql;

namespace SecretlessProxy.Tests.MySql;

/// <summary>
/// The relay after login, between an in-memory client and a loopback "upstream": packets pass verbatim both ways,
/// KILL naming a gateway id becomes the upstream thread's KILL for the same workload and an ERR otherwise, and
/// COM_CHANGE_USER is refused.
/// </summary>
public sealed class MySqlRelayTests : IAsyncLifetime
{
    private readonly Pipe _toGateway = new();
    private readonly Pipe _toClient = new();
    private readonly MySqlSessions _sessions = new();
    private TcpListener _listener = null!;
    private TcpClient _gatewaySide = null!;
    private TcpClient _serverSide = null!;
    private NetworkStream _server = null!;
    private MySqlSession _mine = null!;
    private MySqlSession _sibling = null!;
    private MySqlSession _stranger = null!;
    private Task _relay = null!;

    private static readonly DatabaseSettings Db = new()
    {
        Name = "shop",
        Engine = DatabaseEngine.MySql,
        Host = "127.0.0.1",
        Port = 3306,
        UpstreamDatabase = "shop",
        SslMode = UpstreamSslMode.Disable,
        ServerName = "127.0.0.1",
        MinimumAuth = UpstreamAuth.ScramSha256,
        Roles = FrozenDictionary<string, DatabaseRole>.Empty,
        PassParameters = FrozenSet<string>.Empty,
    };

    public async Task InitializeAsync()
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _gatewaySide = new TcpClient();
        var accept = _listener.AcceptTcpClientAsync();
        await _gatewaySide.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)_listener.LocalEndpoint).Port);
        _serverSide = await accept;
        _server = _serverSide.GetStream();
        _mine = _sessions.Register();
        _sibling = _sessions.Register();
        _stranger = _sessions.Register();
        _mine.LoggedIn("spiffe://example.org/a", Db, 100);
        _sibling.LoggedIn("spiffe://example.org/a", Db, 200);
        _stranger.LoggedIn("spiffe://example.org/b", Db, 300);
        var greeting = new ServerGreeting("10.11.0-MariaDB", 100, new byte[20], MySqlWire.Relayable, 45, 2, MySqlWire.NativePassword);
        var upstream = new MySqlUpstream(_gatewaySide.GetStream(), greeting, MySqlWire.Relayable, [0, 0, 0, 2, 0, 0, 0], MySqlWire.NativePassword);
        _relay = new MySqlRelay(_toGateway.Reader, _toClient.Writer, upstream, _mine, _sessions).RunAsync(CancellationToken.None);
    }

    private async Task SendAsync(byte sequence, byte[] payload)
    {
        await _toGateway.Writer.WriteAsync(MySqlWire.Packet(sequence, payload));
    }

    private static byte[] Query(string sql) => [MySqlWire.ComQuery, .. Encoding.UTF8.GetBytes(sql)];

    private async Task<(byte Sequence, byte[] Payload)> UpstreamReadsAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await MySqlWire.ReadPacketAsync(_server, 1 << 20, timeout.Token);
    }

    private async Task<(byte Sequence, byte[] Payload)> ClientReadsAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return (await MySqlWire.ReadPacketAsync(_toClient.Reader, 1 << 20, timeout.Token))!.Value;
    }

    [Fact]
    public async Task Packets_pass_verbatim_and_kill_is_translated_for_the_same_workload_only()
    {
        await SendAsync(0, Query("SELECT 1"));
        var (sequence, payload) = await UpstreamReadsAsync();
        Assert.Equal(0, sequence);
        Assert.Equal(Query("SELECT 1"), payload);

        // A continuation-style packet (sequence 3) and an empty frame pass at once.
        await SendAsync(3, [1, 2, 3]);
        await SendAsync(4, []);
        Assert.Equal(new byte[] { 1, 2, 3 }, (await UpstreamReadsAsync()).Payload);
        Assert.Empty((await UpstreamReadsAsync()).Payload);

        // The server's bytes reach the client as they are.
        byte[] ok = [7, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        await _server.WriteAsync(ok);
        var answer = await ClientReadsAsync();
        Assert.Equal(1, answer.Sequence);
        Assert.Equal(ok[4..], answer.Payload);

        await SendAsync(0, Query($"kill query {_sibling.Id};"));
        Assert.Equal("KILL QUERY 200", Encoding.ASCII.GetString((await UpstreamReadsAsync()).Payload.AsSpan(1)));

        byte[] processKill = [MySqlWire.ComProcessKill, 0, 0, 0, 0];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(processKill.AsSpan(1), _sibling.Id);
        await SendAsync(0, processKill);
        Assert.Equal(200u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian((await UpstreamReadsAsync()).Payload.AsSpan(1)));

        await SendAsync(0, Query($"KILL {_stranger.Id}"));
        var refused = await ClientReadsAsync();
        Assert.Equal(MySqlWire.ErrHeader, refused.Payload[0]);
        Assert.Equal(1095, MySqlWire.ParseErr(refused.Payload).Code);

        await SendAsync(0, Query("KILL QUERY 4000000000"));
        Assert.Equal(1094, MySqlWire.ParseErr((await ClientReadsAsync()).Payload).Code);

        await SendAsync(0, [MySqlWire.ComChangeUser, .. "root\0"u8.ToArray()]);
        Assert.Equal(1227, MySqlWire.ParseErr((await ClientReadsAsync()).Payload).Code);

        // None of the refused commands reached the upstream: the next packet it reads is this one.
        await SendAsync(0, Query("SELECT 2"));
        Assert.Equal(Query("SELECT 2"), (await UpstreamReadsAsync()).Payload);

        // COM_QUIT passes; the server closes; the relay ends.
        await SendAsync(0, [MySqlWire.ComQuit]);
        Assert.Equal(new byte[] { MySqlWire.ComQuit }, (await UpstreamReadsAsync()).Payload);
        _serverSide.Close();
        await _relay.WaitAsync(TimeSpan.FromSeconds(10));
    }

    public async Task DisposeAsync()
    {
        _serverSide.Dispose();
        _gatewaySide.Dispose();
        _listener.Stop();
        _listener.Dispose();
        await _toGateway.Writer.CompleteAsync();
        await _toClient.Reader.CompleteAsync();
    }
}
