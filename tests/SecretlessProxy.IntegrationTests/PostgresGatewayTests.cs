using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using SecretlessProxy.IntegrationTests.Infrastructure;
using SecretlessProxy.Testing;

namespace SecretlessProxy.IntegrationTests;

/// <summary>
/// The PostgreSQL gateway against a real PostgreSQL server: psql and Npgsql log in through it with no password
/// (an SVID over TLS, a Unix socket peer, a loopback identity), and the gateway logs in upstream with SCRAM or MD5,
/// refuses downgrades, forwards cancels to the right backend and answers bad packets with an ErrorResponse.
/// </summary>
public sealed class PostgresGatewayTests : IAsyncLifetime
{
    private const string OtherId = "spiffe://other.org/ns/x/sa/intruder";

    private readonly TestPki _pki = new();
    private PostgresServer _db = null!;
    private ProxyUnderTest _proxy = null!;
    private string _socketDir = "";
    private int _closedPort;

    public async Task InitializeAsync()
    {
        _db = await PostgresServer.StartAsync();
        _socketDir = Directory.CreateTempSubdirectory("secretless-pg-").FullName;
        _closedPort = LoopbackPorts.Next();
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "scram.pw"), _db.Password(PostgresServer.ScramRole) + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "md5.pw"), _db.Password(PostgresServer.Md5Role) + "\n");
        await File.WriteAllTextAsync(Path.Combine(_pki.Directory, "cleartext.pw"), _db.Password(PostgresServer.PasswordRole) + "\n");
        _proxy = await ProxyUnderTest.StartAsync(_pki, Config);
    }

    private string Database(string name, string auth, string role, string credential, string ssl = "verify-full", int? port = null) => $$"""
          {{name}}:
            host: 127.0.0.1
            port: {{port ?? _db.Port}}
            database: {{PostgresServer.DatabaseName}}
            sslmode: {{ssl}}
        {{(ssl == "verify-full" ? $"    caFile: {_db.CaCertificatePath}\n    serverName: localhost" : "")}}
            auth: {{auth}}
            connectTimeout: 3s
            roles: { app: { credential: {{credential}}, user: {{role}} } }
        """;

    private string Config(Uri upstream) => $$"""
        listeners:
          - name: pg-tls
            protocol: postgres
            url: tcp://127.0.0.1:0
            certificate: { cert: server.pem, key: server.key }
            trustBundles: { example.org: example.org.pem, other.org: other.org.pem }
          - name: pg-socket
            protocol: postgres
            url: unix:{{_socketDir}}/.s.PGSQL.5432
          - name: pg-local
            protocol: postgres
            url: tcp://127.0.0.1:0
            identity: payments
          - name: admin
            role: admin
            url: http://127.0.0.1:0
        identities:
          payments:
            spiffeId: {{TestPki.PaymentsId}}
            unix: { uid: 0 }
        credentials:
          scram-pw: { provider: file, path: scram.pw }
          md5-pw: { provider: file, path: md5.pw }
          cleartext-pw: { provider: file, path: cleartext.pw }
        databases:
        {{Database("orders", "scram-sha-256", PostgresServer.ScramRole, "scram-pw")}}
        {{Database("orders-md5", "md5", PostgresServer.Md5Role, "md5-pw", ssl: "require")}}
        {{Database("orders-strict", "scram-sha-256", PostgresServer.Md5Role, "md5-pw", ssl: "require")}}
        {{Database("orders-cleartext", "scram-sha-256", PostgresServer.PasswordRole, "cleartext-pw", ssl: "require")}}
        {{Database("orders-down", "scram-sha-256", PostgresServer.ScramRole, "scram-pw", ssl: "disable", port: _closedPort)}}
        policies:
          - name: payments-uses-orders
            allow: [payments]
            databases: ["*"]
            roles: [app]
        """;

    private int Port(string listener) => _proxy.Host.GetListenerUri(listener).Port;

    private (string Cert, string Key) SvidFiles(string id, string name) => _pki.WritePem(_pki.Svid(id), name);

    private static Task<(int Exit, string Output, string Error)> PsqlAsync(string connection, string sql) => PostgresServer.PsqlWithoutPasswordAsync(connection, sql);

    private string TlsConnection(string database, (string Cert, string Key) svid) =>
        $"host=localhost port={Port("pg-tls")} dbname={database} user=app sslmode=verify-full sslrootcert={_pki.ServerCaPath} sslcert={svid.Cert} sslkey={svid.Key}";

    [Fact]
    public async Task Psql_logs_in_with_no_password_as_an_svid_over_tls_and_as_a_unix_socket_peer()
    {
        var svid = SvidFiles(TestPki.PaymentsId, "payments");
        var overTls = await PsqlAsync(TlsConnection("orders", svid), "select current_user");
        Assert.True(overTls.Exit == 0, overTls.Error);
        Assert.Equal(PostgresServer.ScramRole, overTls.Output);
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "pg-tls");
        Assert.Equal("allow", record.GetProperty("outcome").GetString());
        Assert.Equal("x509-svid", record.GetProperty("attestation").GetString());
        Assert.Equal("orders", record.GetProperty("database").GetString());
        Assert.Equal("app", record.GetProperty("role").GetString());
        Assert.Equal("payments-uses-orders", record.GetProperty("rule").GetString());
        Assert.True(record.GetProperty("credentialStatic").GetBoolean());
        // The upstream hop is TLS (verify-full), so SCRAM is bound to the server's certificate.
        Assert.Equal("scram-sha-256-plus", record.GetProperty("upstreamAuth").GetString());

        var overSocket = await PsqlAsync($"host={_socketDir} port=5432 dbname=orders user=app", "select count(*) from items");
        Assert.True(overSocket.Exit == 0, overSocket.Error);
        Assert.Equal(PostgresServer.Items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), overSocket.Output);
        var peer = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("listener").GetString() == "pg-socket");
        Assert.Equal("unix-peer", peer.GetProperty("attestation").GetString());
        AssertNoPassword();
    }

    [Fact]
    public async Task Npgsql_with_pooling_runs_queries_through_the_loopback_listener()
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port("pg-local"), Database = "orders", Username = "app", SslMode = SslMode.Disable, Pooling = true, MaxPoolSize = 8 };
        await using var source = NpgsqlDataSource.Create(builder.ConnectionString);
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(async i =>
        {
            await using var command = source.CreateCommand("select name from items where id = $1");
            command.Parameters.AddWithValue(i % 3 + 1);
            return (string)(await command.ExecuteScalarAsync())!;
        }));
        Assert.Equal(PostgresServer.Items.Select(x => x.Name).Order(), results.Distinct().Order());
        // Pooling: far fewer logins than queries.
        var logins = _proxy.Decisions.DecisionRecords().Count(r => r.GetProperty("listener").GetString() == "pg-local");
        Assert.InRange(logins, 1, 8);
    }

    [Fact]
    public async Task A_denied_workload_gets_28000_and_the_upstream_sees_no_login()
    {
        var before = (await _db.ReadLogAsync()).Length;
        var intruder = _pki.WritePem(_pki.OtherCa.IssueSvid(OtherId, TimeSpan.FromHours(1)), "intruder");
        var denied = await PsqlAsync(TlsConnection("orders", intruder), "select 1");
        Assert.NotEqual(0, denied.Exit);
        Assert.Contains("access to database \"orders\" as role \"app\" denied", denied.Error, StringComparison.Ordinal);
        var record = await _proxy.Decisions.WaitForRecordAsync(r => r.GetProperty("identity").GetString() == OtherId);
        Assert.Equal("no_rule_matched", record.GetProperty("reason").GetString());
        // An SVID of a trust domain signed by another domain's CA is no identity at all.
        var forged = await PsqlAsync(TlsConnection("orders", _pki.WritePem(_pki.Svid(OtherId), "forged")), "select 1");
        Assert.Contains("workload identity not established", forged.Error, StringComparison.Ordinal);
        Assert.Contains("does not chain to the bundle of 'other.org'", forged.Error, StringComparison.Ordinal);
        Assert.Equal("28000", record.GetProperty("sqlState").GetString());

        // Without TLS on the TLS listener: no identity, no login.
        var plain = await PsqlAsync($"host=127.0.0.1 port={Port("pg-tls")} dbname=orders user=app sslmode=disable", "select 1");
        Assert.Contains("requires TLS with your X.509-SVID", plain.Error, StringComparison.Ordinal);
        var unknownRole = await PsqlAsync($"host=127.0.0.1 port={Port("pg-local")} dbname=orders user=postgres sslmode=disable", "select 1");
        Assert.Contains("role \"postgres\" is not configured", unknownRole.Error, StringComparison.Ordinal);
        var unknownDb = await PsqlAsync($"host=127.0.0.1 port={Port("pg-local")} dbname=payroll user=app sslmode=disable", "select 1");
        Assert.Contains("database \"payroll\" is not served", unknownDb.Error, StringComparison.Ordinal);

        var log = (await _db.ReadLogAsync())[before..];
        Assert.DoesNotContain("connection received", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_upstream_that_is_down_gives_08006_and_the_client_is_not_left_hanging()
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port("pg-local"), Database = "orders-down", Username = "app", SslMode = SslMode.Disable, Pooling = false, Timeout = 15 };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        var error = await Assert.ThrowsAsync<PostgresException>(() => connection.OpenAsync());
        Assert.Equal("08006", error.SqlState);
        Assert.Contains("could not connect to the upstream", error.MessageText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancel_request_stops_the_right_backends_query_with_57014()
    {
        var builder = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = Port("pg-local"), Database = "orders", Username = "app", SslMode = SslMode.Disable, Pooling = false };
        await using var sleeper = new NpgsqlConnection(builder.ConnectionString);
        await using var bystander = new NpgsqlConnection(builder.ConnectionString);
        await sleeper.OpenAsync();
        await bystander.OpenAsync();
        await using var sleep = new NpgsqlCommand("select pg_sleep(30)", sleeper);
        await using var other = new NpgsqlCommand("select 'still here' from pg_sleep(2)", bystander);
        var sleeping = sleep.ExecuteNonQueryAsync();
        var bystanding = other.ExecuteScalarAsync();
        // The backend runs the sleep once the server reports it active; then cancel (Npgsql sends a CancelRequest on a new connection).
        await Eventually.Until(async () => (await _db.QueryAsync("select count(*) from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'")).Trim() == "1",
            "the sleep runs on the upstream");
        var watch = Stopwatch.StartNew();
        sleep.Cancel();
        // Npgsql reports a cancel it sent as OperationCanceledException around the server's error.
        var canceled = await Assert.ThrowsAsync<OperationCanceledException>(() => sleeping);
        watch.Stop();
        Assert.Equal("57014", Assert.IsType<PostgresException>(canceled.InnerException).SqlState);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"the cancel took {watch.Elapsed}");
        // Only that backend was canceled.
        Assert.Equal("still here", await bystanding);
    }

    [Fact]
    public async Task Md5_is_used_where_configured_and_a_downgrade_from_scram_is_refused_before_the_password_is_sent()
    {
        var md5 = await PsqlAsync($"host=127.0.0.1 port={Port("pg-local")} dbname=orders-md5 user=app sslmode=disable", "select current_user");
        Assert.True(md5.Exit == 0, md5.Error);
        Assert.Equal(PostgresServer.Md5Role, md5.Output);
        var md5Record = await _proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("database", out var d) && d.GetString() == "orders-md5");
        Assert.Equal("md5", md5Record.GetProperty("upstreamAuth").GetString());

        var strict = await PsqlAsync($"host=127.0.0.1 port={Port("pg-local")} dbname=orders-strict user=app sslmode=disable", "select 1");
        Assert.Contains("the upstream asked for MD5 authentication; this database requires scram-sha-256 or stronger", strict.Error, StringComparison.Ordinal);
        var cleartext = await PsqlAsync($"host=127.0.0.1 port={Port("pg-local")} dbname=orders-cleartext user=app sslmode=disable", "select 1");
        Assert.Contains("the upstream asked for cleartext password authentication", cleartext.Error, StringComparison.Ordinal);
        await _proxy.Decisions.WaitForRecordAsync(r => r.TryGetProperty("database", out var d) && d.GetString() == "orders-cleartext");
        var reasons = _proxy.Decisions.DecisionRecords().Where(r => r.TryGetProperty("database", out var d) && d.GetString() is "orders-strict" or "orders-cleartext")
            .Select(r => r.GetProperty("reason").GetString()).Distinct();
        Assert.Equal(["upstream_auth_downgrade"], reasons);
        AssertNoPassword();
    }

    public static TheoryData<string, byte[]> MalformedPackets() => new()
    {
        { "a 2^31-1 length", Bytes(0x7F, 0xFF, 0xFF, 0xFF, 0, 3, 0, 0) },
        { "a negative length", Bytes(0x80, 0, 0, 0, 0, 3, 0, 0) },
        { "a length below the header", Bytes(0, 0, 0, 4, 0, 3, 0, 0) },
        { "protocol 4.0", Packet(4 << 16, "user\0app\0\0"u8.ToArray()) },
        { "protocol 2.0", Packet(2 << 16, "user\0app\0\0"u8.ToArray()) },
        { "an unterminated parameter", Packet(3 << 16, "user\0app"u8.ToArray()) },
        { "a parameter given twice", Packet(3 << 16, "user\0app\0user\0postgres\0\0"u8.ToArray()) },
        { "a cancel request of the wrong size", Packet(80877102, [1, 2, 3, 4]) },
    };

    [Theory]
    [MemberData(nameof(MalformedPackets))]
    public async Task Malformed_startup_packets_get_08P01_and_a_closed_connection(string what, byte[] packet)
    {
        var answer = await SendRawAsync(Port("pg-local"), packet);
        Assert.True(answer.Length > 0 && answer[0] == (byte)'E', $"{what}: expected an ErrorResponse, got {answer.Length} bytes");
        Assert.Contains("C08P01", Encoding.UTF8.GetString(answer), StringComparison.Ordinal);
        // The gateway still serves.
        Assert.Equal(0, (await PsqlAsync($"host=127.0.0.1 port={Port("pg-local")} dbname=orders user=app sslmode=disable", "select 1")).Exit);
    }

    [Fact]
    public async Task Bytes_sent_after_an_ssl_request_before_the_answer_are_refused_and_a_truncated_startup_is_just_closed()
    {
        // SSLRequest followed at once by a plaintext startup message: never read as if it came through TLS.
        var injected = Bytes(0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F).Concat(Packet(3 << 16, "user\0app\0database\0orders\0\0"u8.ToArray())).ToArray();
        var answer = await SendRawAsync(Port("pg-tls"), injected);
        Assert.Contains("received unencrypted data after the SSLRequest", Encoding.UTF8.GetString(answer), StringComparison.Ordinal);

        var truncated = await SendRawAsync(Port("pg-local"), Bytes(0, 0, 0, 40, 0, 3, 0, 0, (byte)'u'));
        Assert.Contains("C08P01", Encoding.UTF8.GetString(truncated), StringComparison.Ordinal);

        // GSSENCRequest is declined with 'N', and the client may go on with a startup message.
        var gss = await SendRawAsync(Port("pg-local"), Bytes(0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30));
        Assert.Equal((byte)'N', gss[0]);
    }

    private static async Task<byte[]> SendRawAsync(int port, byte[] bytes)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        await stream.WriteAsync(bytes);
        client.Client.Shutdown(SocketShutdown.Send);
        using var answer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await stream.CopyToAsync(answer, timeout.Token);
        return answer.ToArray();
    }

    private static byte[] Bytes(params byte[] bytes) => bytes;

    private static byte[] Packet(int code, byte[] rest)
    {
        var packet = new byte[8 + rest.Length];
        BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), code);
        rest.CopyTo(packet, 8);
        return packet;
    }

    private void AssertNoPassword()
    {
        foreach (var role in new[] { PostgresServer.ScramRole, PostgresServer.Md5Role, PostgresServer.PasswordRole })
        {
            var password = _db.Password(role);
            Assert.DoesNotContain(password, _proxy.Logs.Text, StringComparison.Ordinal);
            Assert.DoesNotContain(password, _proxy.Decisions.Text, StringComparison.Ordinal);
        }
    }

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _db.DisposeAsync();
        _pki.Dispose();
        Directory.Delete(_socketDir, recursive: true);
    }
}
