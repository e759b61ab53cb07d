using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using MySqlConnector;
using SecretlessProxy.IntegrationTests.Infrastructure;

namespace SecretlessProxy.IntegrationTests;

/// <summary>The MariaDB server and the proxy of <see cref="MySqlGatewayTests"/>.</summary>
public sealed class MySqlGatewayFixture : IAsyncLifetime
{
    public const string ReportsId = "spiffe://example.org/ns/reports/sa/job";

    private readonly TestPki _pki = new();
    private MariaDbServer _db = null!;
    private ProxyUnderTest _proxy = null!;
    private string _socketDir = "";
    private int _closedPort;

    public TestPki Pki => _pki;

    public MariaDbServer Db => _db;

    public ProxyUnderTest Proxy => _proxy;

    public string SocketDirectory => _socketDir;

    public async Task InitializeAsync()
    {
        _db = await MariaDbServer.StartAsync();
        _socketDir = Directory.CreateTempSubdirectory("secretless-my-").FullName;
        _closedPort = LoopbackPorts.Next();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "native.pw"), _db.Password(MariaDbServer.NativeUser) + "\n");
        if (_db.HasEd25519)
        {
            await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "ed.pw"), _db.Password(MariaDbServer.Ed25519User) + "\n");
        }
        else
        {
            await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "ed.pw"), "unused\n");
        }
        _proxy = await ProxyUnderTest.StartAsync(_pki, Config);
    }

    private string Database(string name, string user, string credential, string ssl = "verify-full", int? port = null, string auth = "mysql_native_password") => $$"""
          {{name}}:
            engine: mysql
            host: 127.0.0.1
            port: {{port ?? _db.Port}}
            database: {{MariaDbServer.DatabaseName}}
            sslmode: {{ssl}}
        {{(ssl == "verify-full" ? $"    caFile: {_db.CaCertificatePath}\n    serverName: localhost" : "")}}
            auth: {{auth}}
            connectTimeout: 3s
            roles: { app: { credential: {{credential}}, user: {{user}} } }
        """;

    private string Config(Uri upstream) => $$"""
        listeners:
          - name: my-tls
            protocol: mysql
            url: tcp://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem, other.org: other.org.pem }
          - name: my-socket
            protocol: mysql
            url: unix:{{_socketDir}}/mysqld.sock
          - name: my-local
            protocol: mysql
            url: tcp://127.0.0.1:0
            identity: payments
          - name: my-reports
            protocol: mysql
            url: tcp://127.0.0.1:0
            identity: reports
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          payments:
            spiffeId: {{TestPki.PaymentsId}}
            unix: { uid: 0 }
          reports:
            spiffeId: {{ReportsId}}
        credentials:
          native-pw: { provider: file, path: native.pw }
          ed-pw: { provider: file, path: ed.pw }
        databases:
        {{Database("shop", MariaDbServer.NativeUser, "native-pw")}}
        {{Database("shop-plain", MariaDbServer.NativeUser, "native-pw", ssl: "disable")}}
        {{Database("shop-pool", MariaDbServer.NativeUser, "native-pw", ssl: "disable")}}
        {{Database("shop-strict", MariaDbServer.NativeUser, "native-pw", ssl: "require", auth: "caching_sha2_password")}}
        {{Database("shop-ed", MariaDbServer.Ed25519User, "ed-pw", ssl: "require")}}
        {{Database("shop-down", MariaDbServer.NativeUser, "native-pw", ssl: "disable", port: _closedPort)}}
        policies:
          - name: payments-uses-shop
            allow: [payments]
            databases: ["*"]
            roles: [app]
          - name: reports-uses-shop
            allow: [reports]
            databases: [shop-plain]
            roles: [app]
        """;

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _db.DisposeAsync();
        _pki.Dispose();
        Directory.Delete(_socketDir, recursive: true);
    }
}

/// <summary>
/// The MySQL gateway against a real MariaDB server: the mariadb client and MySqlConnector log in through it with no
/// password (an SVID over TLS, a Unix socket peer, a loopback identity), the gateway logs in upstream with
/// mysql_native_password (over verified TLS or plain TCP), refuses callers with 1045 before the upstream sees them,
/// maps KILL QUERY to the right upstream thread, and answers malformed handshakes with an ERR packet. One server and
/// one proxy for the class (tests of a class run one at a time).
/// </summary>
public sealed class MySqlGatewayTests(MySqlGatewayFixture fixture) : IClassFixture<MySqlGatewayFixture>
{
    private const string OtherId = "spiffe://other.org/ns/x/sa/intruder";

    private readonly TestPki _pki = fixture.Pki;
    private readonly MariaDbServer _db = fixture.Db;
    private readonly ProxyUnderTest _proxy = fixture.Proxy;
    private readonly string _socketDir = fixture.SocketDirectory;

    private int Port(string listener) => _proxy.Host.GetListenerUri(listener).Port;

    private static Task<(int ExitCode, string Output, string Error)> MariaDbAsync(params string[] args) =>
        ChildProcess.RunAsync(MariaDbServer.ClientPath, ["--no-defaults", "-N", "-B", .. args]);

    private Task<(int ExitCode, string Output, string Error)> OverTlsAsync(string database, (string Cert, string Key) svid, string sql) =>
        MariaDbAsync("--protocol=TCP", "-h", "127.0.0.1", "-P", Port("my-tls").ToString(System.Globalization.CultureInfo.InvariantCulture), "-u", "app", "-D", database,
            "--ssl", "--ssl-ca=" + _pki.ServerCaPath, "--ssl-cert=" + svid.Cert, "--ssl-key=" + svid.Key, "--ssl-verify-server-cert", "-e", sql);

    private Task<(int ExitCode, string Output, string Error)> LocalAsync(string listener, string database, string sql) =>
        MariaDbAsync("--protocol=TCP", "-h", "127.0.0.1", "-P", Port(listener).ToString(System.Globalization.CultureInfo.InvariantCulture), "-u", "app", "-D", database, "-e", sql);

    private MySqlConnectionStringBuilder Builder(string database, string listener = "my-local", bool pooling = true) => new()
    {
        Server = "127.0.0.1",
        Port = (uint)Port(listener),
        Database = database,
        UserID = "app",
        SslMode = MySqlSslMode.None,
        Pooling = pooling,
        MaximumPoolSize = 8,
        ConnectionTimeout = 15,
    };

    [Fact]
    public async Task The_mariadb_client_logs_in_with_no_password_as_an_svid_over_tls_and_as_a_unix_socket_peer()
    {
        var svid = _pki.WritePem(_pki.Svid(TestPki.PaymentsId), "payments");
        var overTls = await OverTlsAsync("shop", svid, "select current_user()");
        Assert.True(overTls.ExitCode == 0, overTls.Error);
        Assert.Equal(MariaDbServer.NativeUser + "@%", overTls.Output.Trim());
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "my-tls");
        Assert.Equal("allow", record.GetProperty("outcome").GetString());
        Assert.Equal("mysql", record.GetProperty("protocol").GetString());
        Assert.Equal("x509-svid", record.GetProperty("attestation").GetString());
        Assert.Equal("shop", record.GetProperty("database").GetString());
        Assert.Equal("app", record.GetProperty("role").GetString());
        Assert.Equal("payments-uses-shop", record.GetProperty("rule").GetString());
        Assert.Equal("mysql_native_password", record.GetProperty("upstreamAuth").GetString());
        // The upstream hop is TLS too (verify-full against the fixture's CA).
        var cipher = await OverTlsAsync("shop", svid, "show status like 'Ssl_cipher'");
        Assert.True(cipher.ExitCode == 0, cipher.Error);
        Assert.Matches(@"Ssl_cipher\s+\S+", cipher.Output);

        var overSocket = await MariaDbAsync("--protocol=SOCKET", "--socket=" + Path.Combine(_socketDir, "mysqld.sock"), "-u", "app", "-D", "shop-plain", "-e", "select count(*) from items");
        Assert.True(overSocket.ExitCode == 0, overSocket.Error);
        Assert.Equal(MariaDbServer.Items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), overSocket.Output.Trim());
        var peer = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "my-socket");
        Assert.Equal("unix-peer", peer.GetProperty("attestation").GetString());

        // The client names its database; the greeting's connection id is the gateway's own, not the upstream's.
        var ids = await LocalAsync("my-local", "shop-plain", "select connection_id(), database()");
        Assert.True(ids.ExitCode == 0, ids.Error);
        Assert.EndsWith("\tshop", ids.Output.Trim(), StringComparison.Ordinal);
        AssertNoPassword();
    }

    [Fact]
    public async Task MySqlConnector_with_pooling_runs_queries_through_the_loopback_listener()
    {
        await using var source = new MySqlDataSource(Builder("shop-pool").ConnectionString);
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(async i =>
        {
            await using var connection = await source.OpenConnectionAsync();
            await using var command = new MySqlCommand("select name from items where id = @id", connection);
            command.Parameters.AddWithValue("@id", i % 3 + 1);
            return (string)(await command.ExecuteScalarAsync())!;
        }));
        Assert.Equal(MariaDbServer.Items.Select(x => x.Name).Order(), results.Distinct().Order());
        // Pooling (with COM_RESET_CONNECTION between uses): far fewer logins than queries.
        var logins = _proxy.Decisions.DecisionRecords().Count(r => r.GetProperty("listener").GetString() == "my-local" && r.GetProperty("database").GetString() == "shop-pool");
        Assert.InRange(logins, 1, 8);

        // Prepared statements (the binary protocol) pass too.
        await using var prepared = await source.OpenConnectionAsync();
        await using var select = new MySqlCommand("select id, name from items where id > @id order by id", prepared);
        select.Parameters.AddWithValue("@id", 1);
        await select.PrepareAsync();
        await using var reader = await select.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(1));
        }
        Assert.Equal(["gadget", "gizmo"], names);
    }

    [Fact]
    public async Task A_denied_workload_gets_1045_and_the_upstream_sees_no_login()
    {
        // One login first, so the gateway knows the upstream's greeting and asks for nothing more.
        Assert.Equal(0, (await LocalAsync("my-local", "shop-plain", "select 1")).ExitCode);
        var before = (await _db.ReadGeneralLogAsync()).Length;

        var intruder = _pki.WritePem(_pki.OtherCa.IssueSvid(OtherId, TimeSpan.FromHours(1)), "intruder");
        var denied = await OverTlsAsync("shop", intruder, "select 1");
        Assert.NotEqual(0, denied.ExitCode);
        Assert.Contains("ERROR 1045 (28000)", denied.Error, StringComparison.Ordinal);
        Assert.Contains("access to database \"shop\" as user \"app\" denied", denied.Error, StringComparison.Ordinal);
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("identity").GetString() == OtherId);
        Assert.Equal("no_rule_matched", record.GetProperty("reason").GetString());
        Assert.Equal("28000", record.GetProperty("sqlState").GetString());

        // reports may use shop-plain only.
        var elsewhere = await LocalAsync("my-reports", "shop", "select 1");
        Assert.Contains("ERROR 1045 (28000)", elsewhere.Error, StringComparison.Ordinal);

        // Without TLS on the TLS listener: no identity, no login.
        var plain = await MariaDbAsync("--protocol=TCP", "-h", "127.0.0.1", "-P", Port("my-tls").ToString(System.Globalization.CultureInfo.InvariantCulture), "-u", "app", "-D", "shop", "--skip-ssl", "-e", "select 1");
        Assert.Contains("requires TLS with your X.509-SVID", plain.Error, StringComparison.Ordinal);
        var unknownUser = await MariaDbAsync("--protocol=TCP", "-h", "127.0.0.1", "-P", Port("my-local").ToString(System.Globalization.CultureInfo.InvariantCulture), "-u", "root", "-D", "shop", "-e", "select 1");
        Assert.Contains("user \"root\" is not configured", unknownUser.Error, StringComparison.Ordinal);
        var unknownDb = await LocalAsync("my-local", "payroll", "select 1");
        Assert.Contains("ERROR 1049 (42000)", unknownDb.Error, StringComparison.Ordinal);
        Assert.Contains("database \"payroll\" is not served", unknownDb.Error, StringComparison.Ordinal);

        var log = (await _db.ReadGeneralLogAsync())[before..];
        Assert.DoesNotContain("Connect", log, StringComparison.Ordinal);
        AssertNoPassword(denied.Error, elsewhere.Error, plain.Error, unknownUser.Error, unknownDb.Error);
    }

    [Fact]
    public async Task An_upstream_that_is_down_gives_2003_and_the_client_is_not_left_hanging()
    {
        await using var connection = new MySqlConnection(Builder("shop-down", pooling: false).ConnectionString);
        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<MySqlException>(() => connection.OpenAsync());
        Assert.Equal(2003, error.Number);
        Assert.Equal("08S01", error.SqlState);
        Assert.Contains("could not connect to the upstream", error.Message, StringComparison.Ordinal);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Kill_query_through_the_gateway_stops_the_right_sessions_sleep()
    {
        await using var sleeper = new MySqlConnection(Builder("shop-plain", pooling: false).ConnectionString);
        await using var bystander = new MySqlConnection(Builder("shop-plain", pooling: false).ConnectionString);
        await using var killer = new MySqlConnection(Builder("shop-plain", pooling: false).ConnectionString);
        await sleeper.OpenAsync();
        await bystander.OpenAsync();
        await killer.OpenAsync();
        Assert.NotEqual(sleeper.ServerThread, bystander.ServerThread);
        await using var sleep = new MySqlCommand("SELECT SLEEP(30)", sleeper);
        await using var other = new MySqlCommand("SELECT 'still here' FROM (SELECT SLEEP(2)) AS s", bystander);
        var watch = Stopwatch.StartNew();
        var sleeping = sleep.ExecuteScalarAsync();
        var bystanding = other.ExecuteScalarAsync();
        await Eventually.Until(async () => (await _db.QueryAsync("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(30)'")).Trim() == "1",
            "the sleep runs on the upstream");

        // Another workload may not kill it, and an id that is no gateway session is unknown.
        await using (var intruder = new MySqlConnection(Builder("shop-plain", listener: "my-reports", pooling: false).ConnectionString))
        {
            await intruder.OpenAsync();
            await using var kill = new MySqlCommand($"KILL QUERY {sleeper.ServerThread}", intruder);
            var refused = await Assert.ThrowsAsync<MySqlException>(() => kill.ExecuteNonQueryAsync());
            Assert.Equal(1095, refused.Number);
        }
        await using (var unknown = new MySqlCommand("KILL QUERY 4000000000", killer))
        {
            Assert.Equal(1094, (await Assert.ThrowsAsync<MySqlException>(() => unknown.ExecuteNonQueryAsync())).Number);
        }

        await using (var kill = new MySqlCommand($"KILL QUERY {sleeper.ServerThread}", killer))
        {
            await kill.ExecuteNonQueryAsync();
        }
        // A killed SLEEP returns 1 (MariaDB), or the driver reports the interruption.
        try
        {
            Assert.Equal(1L, Convert.ToInt64(await sleeping, System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (MySqlException ex)
        {
            Assert.Equal(1317, ex.Number);
        }
        watch.Stop();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the kill took {watch.Elapsed}");
        Assert.Equal("still here", await bystanding);
        // The sleeper's session goes on.
        await using var again = new MySqlCommand("SELECT 7", sleeper);
        Assert.Equal(7L, Convert.ToInt64(await again.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));

        // MySqlConnector's own Cancel (KILL QUERY on a connection of its own, through the gateway).
        await using var second = new MySqlCommand("SELECT SLEEP(30)", sleeper);
        var secondSleep = second.ExecuteScalarAsync();
        await Eventually.Until(async () => (await _db.QueryAsync("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO = 'SELECT SLEEP(30)'")).Trim() == "1",
            "the second sleep runs");
        var cancelWatch = Stopwatch.StartNew();
        second.Cancel();
        try
        {
            await secondSleep;
        }
        catch (Exception ex) when (ex is MySqlException or OperationCanceledException)
        {
            // Either way it ended early.
        }
        Assert.True(cancelWatch.Elapsed < TimeSpan.FromSeconds(15), $"the cancel took {cancelWatch.Elapsed}");
    }

    [Fact]
    public async Task Com_quit_closes_both_sides()
    {
        await using var connection = new MySqlConnection(Builder("shop-plain", pooling: false).ConnectionString);
        await connection.OpenAsync();
        await using var id = new MySqlCommand("SELECT CONNECTION_ID()", connection);
        var upstreamThread = Convert.ToInt64(await id.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        // The client knows the gateway's id; the upstream thread is another number.
        Assert.NotEqual(connection.ServerThread, upstreamThread);
        Assert.Equal("1", (await _db.QueryAsync($"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {upstreamThread}")).Trim());
        await connection.CloseAsync();
        await Eventually.Until(async () => (await _db.QueryAsync($"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {upstreamThread}")).Trim() == "0",
            "the upstream session ends with the client's COM_QUIT");
    }

    [Fact]
    public async Task A_weaker_upstream_method_and_an_unsupported_plugin_are_refused_before_the_password_is_used()
    {
        var strict = await LocalAsync("my-local", "shop-strict", "select 1");
        Assert.Contains("ERROR 1045 (28000)", strict.Error, StringComparison.Ordinal);
        Assert.Contains("this database requires caching_sha2_password", strict.Error, StringComparison.Ordinal);
        await _proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("database", out var d) && d.GetString() == "shop-strict" && r.GetProperty("reason").GetString() == "upstream_auth_downgrade");
        if (_db.HasEd25519)
        {
            var ed = await LocalAsync("my-local", "shop-ed", "select 1");
            Assert.Contains("client_ed25519, which the gateway does not speak", ed.Error, StringComparison.Ordinal);
            AssertNoPassword(ed.Error);
        }
        AssertNoPassword(strict.Error);
    }

    public static TheoryData<string, byte[]> MalformedPackets() => new()
    {
        { "a 16 MiB length", Bytes(0xFF, 0xFF, 0xFF, 1, 0x0D, 0xA2, 0, 0) },
        { "a pre-4.1 handshake response", Packet(1, [0x05, 0x00, 0, 0, 0, 0, 0, 0, 0]) },
        { "a response shorter than its fixed part", Packet(1, [0x0D, 0xA2, 0x0A, 0x00, 0, 0, 0, 1, 33]) },
        { "a user without its NUL", Packet(1, [.. Fixed(0x000AA20D), .. "app"u8.ToArray()]) },
        { "an auth response longer than the packet", Packet(1, [.. Fixed(0x002AA20D), .. "app\0"u8.ToArray(), 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) },
        { "attributes longer than the packet", Packet(1, [.. Fixed(0x003BA20D), .. "app\0"u8.ToArray(), 0, .. "shop\0mysql_native_password\0"u8.ToArray(), 0xFC, 0xFF, 0x7F]) },
        { "a user that is not UTF-8", Packet(1, [.. Fixed(0x000AA20D), 0xC3, 0x28, 0, 0]) },
        { "an SSLRequest on a listener without TLS", Packet(1, Fixed(0x000AAA0D)) },
        { "a packet cut short", Bytes(100, 0, 0, 1, 0x0D, 0xA2, 0x0A, 0x00) },
    };

    [Theory]
    [MemberData(nameof(MalformedPackets))]
    public async Task Malformed_handshakes_get_an_err_packet_and_a_closed_connection(string what, byte[] packet)
    {
        var answer = await SendRawAsync(Port("my-local"), packet);
        Assert.True(answer.Length > 0 && answer[4] == 0xFF, $"{what}: expected an ERR packet, got {Convert.ToHexString(answer)}");
        Assert.Equal(1043, answer[5] | (answer[6] << 8));
        Assert.Contains("#08S01", Encoding.UTF8.GetString(answer), StringComparison.Ordinal);
        // The gateway still serves.
        Assert.Equal(0, (await LocalAsync("my-local", "shop-plain", "select 1")).ExitCode);
    }

    [Fact]
    public async Task Plaintext_sent_after_an_ssl_request_goes_to_the_tls_handshake_and_is_never_read_as_a_login()
    {
        // The server does not answer an SSLRequest, so a client's next bytes are its ClientHello; a plaintext login
        // there is read by the TLS handshake, which fails on it: no ERR, no OK, no login.
        var injected = Packet(1, Fixed(0x000AAA0D)).Concat(Packet(2, [.. Fixed(0x000AA20D), .. "app\0\0shop\0"u8.ToArray()])).ToArray();
        var answer = await SendRawAsync(Port("my-tls"), injected);
        Assert.True(answer.Length == 0 || answer[0] == 0x15, $"expected a closed connection or a TLS alert, got {Convert.ToHexString(answer)}");
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "my-tls" && r.GetProperty("reason").GetString() == "tls_handshake_failed");
        Assert.Equal("deny", record.GetProperty("outcome").GetString());
    }

    /// <summary>Reads the greeting, sends the bytes, half-closes, and returns everything the gateway sent after the greeting.</summary>
    private static async Task<byte[]> SendRawAsync(int port, byte[] bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var header = new byte[4];
        await stream.ReadExactlyAsync(header, timeout.Token);
        await stream.ReadExactlyAsync(new byte[header[0] | (header[1] << 8) | (header[2] << 16)], timeout.Token);
        await stream.WriteAsync(bytes, timeout.Token);
        client.Client.Shutdown(SocketShutdown.Send);
        using var answer = new MemoryStream();
        await stream.CopyToAsync(answer, timeout.Token);
        return answer.ToArray();
    }

    private static byte[] Bytes(params byte[] bytes) => bytes;

    /// <summary>The 32-byte fixed part of a handshake response: capabilities, max packet, collation, filler.</summary>
    private static byte[] Fixed(uint capabilities)
    {
        var part = new byte[32];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(part, capabilities);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(part.AsSpan(4), 1 << 24);
        part[8] = 45;
        return part;
    }

    private static byte[] Packet(byte sequence, byte[] payload) =>
        [(byte)payload.Length, (byte)(payload.Length >> 8), (byte)(payload.Length >> 16), sequence, .. payload];

    /// <summary>No upstream password in the proxy's logs, its decision records, or the errors clients got.</summary>
    private void AssertNoPassword(params string[] errors)
    {
        foreach (var user in new[] { MariaDbServer.NativeUser, MariaDbServer.AdminUser })
        {
            var password = _db.Password(user);
            Assert.DoesNotContain(password, _proxy.Logs.Text, StringComparison.Ordinal);
            Assert.DoesNotContain(password, _proxy.Decisions.Text, StringComparison.Ordinal);
            foreach (var error in errors)
            {
                Assert.DoesNotContain(password, error, StringComparison.Ordinal);
            }
        }
    }
}
