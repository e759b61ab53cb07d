using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using SecretlessProxy.Databases;
using SecretlessProxy.MySql;

namespace SecretlessProxy.Tests.MySql;

#pragma warning disable CA5350 // The server side of caching_sha2_password decrypts with RSA-OAEP(SHA-1), as MySQL does.

/// <summary>How the scripted server answers the gateway's caching_sha2_password response.</summary>
public enum Scenario
{
    Fast,
    FullWithKey,
    FullAskingForKey,
    SwitchToNative,
}

/// <summary>
/// The scramble algorithms against published vectors (go-sql-driver/mysql's auth tests), and the upstream login's
/// caching_sha2_password paths (fast, full with the server's RSA key given or asked for, an auth switch, a refusal
/// over plain TCP without a key) against a scripted server on loopback.
/// </summary>
public sealed class MySqlPasswordTests
{
    [Fact]
    public void Native_password_scramble_matches_the_published_vector()
    {
        byte[] scramble = [70, 114, 92, 94, 1, 38, 11, 116, 63, 114, 23, 101, 126, 103, 26, 95, 81, 17, 24, 21];
        byte[] expected = [53, 177, 140, 159, 251, 189, 127, 53, 109, 252, 172, 50, 211, 192, 240, 164, 26, 48, 207, 45];
        Assert.Equal(expected, MySqlPassword.NativeScramble("secret", scramble));
        Assert.Empty(MySqlPassword.NativeScramble("", scramble));
    }

    [Theory]
    [InlineData("secret", "f490e76f66d9d86665ce54d98c78d0acfe2fb0b08b423da807144873d30b312c")]
    [InlineData("secret2", "abc3934a012cf342e876071c8ee202de51785b430258a7a0138bc79c4d800bc6")]
    public void Caching_sha2_scramble_matches_the_published_vectors(string password, string expected)
    {
        byte[] scramble = [10, 47, 74, 111, 75, 73, 34, 48, 88, 76, 114, 74, 37, 13, 3, 80, 82, 2, 23, 21];
        Assert.Equal(expected, Convert.ToHexStringLower(MySqlPassword.CachingSha2Scramble(password, scramble)));
    }

    [Fact]
    public void Caching_sha2_scramble_matches_a_second_published_vector()
    {
        byte[] scramble = [6, 81, 96, 114, 14, 42, 50, 30, 76, 47, 1, 95, 126, 81, 62, 94, 83, 80, 52, 85];
        byte[] expected = [171, 201, 138, 146, 89, 159, 11, 170, 0, 67, 165, 49, 175, 94, 218, 68, 177, 109, 110, 86, 34, 33, 44, 190, 67, 240, 70, 110, 40, 139, 124, 41];
        Assert.Equal(expected, MySqlPassword.CachingSha2Scramble("secret", scramble));
    }

    [Fact]
    public void The_native_hash_is_the_double_sha1_in_upper_hex()
    {
        // PASSWORD('secret') on MySQL 5.x / MariaDB.
        Assert.Equal("*14E65567ABDB5135D0CFD9A70B3032C179A49EE7", MySqlPassword.NativeHash("secret"));
    }

    [Fact]
    public void The_rsa_payload_decrypts_to_the_password_xored_with_the_scramble()
    {
        using var rsa = RSA.Create(2048);
        var scramble = MySqlWire.NewScramble();
        var encrypted = MySqlPassword.RsaEncrypt("hunter2", scramble, rsa.ExportSubjectPublicKeyInfoPem());
        var plain = rsa.Decrypt(encrypted, RSAEncryptionPadding.OaepSHA1);
        for (var i = 0; i < plain.Length; i++)
        {
            plain[i] ^= scramble[i % scramble.Length];
        }
        Assert.Equal("hunter2\0", Encoding.UTF8.GetString(plain));
    }

    [Theory]
    [InlineData("KILL QUERY 42", "KILL QUERY 7")]
    [InlineData("kill 42", "KILL 7")]
    [InlineData("  Kill Connection 42 ;  ", "KILL CONNECTION 7")]
    [InlineData("KILL HARD QUERY 42", "KILL HARD QUERY 7")]
    public void Kill_statements_naming_a_connection_are_recognised(string sql, string translated)
    {
        var kill = KillStatement.Parse(sql);
        Assert.NotNull(kill);
        Assert.Equal(42u, kill.Id);
        Assert.Equal(translated, kill.WithId(7));
    }

    [Theory]
    [InlineData("KILL QUERY ID 42")]
    [InlineData("KILL USER app")]
    [InlineData("KILL QUERY 42; DROP TABLE x")]
    [InlineData("SELECT 'KILL 42'")]
    [InlineData("KILL 99999999999")]
    [InlineData("KILL -1")]
    public void Other_statements_are_not_kill_statements(string sql) => Assert.Null(KillStatement.Parse(sql));

    [Fact]
    public void A_handshake_response_round_trips_with_attributes()
    {
        var hello = new ClientHandshake
        {
            Capabilities = MySqlWire.Protocol41 | MySqlWire.SecureConnection | MySqlWire.PluginAuth | MySqlWire.ConnectWithDb | MySqlWire.ConnectAttrs | MySqlWire.PluginAuthLenencData,
            MaxPacket = 1 << 24,
            Collation = 45,
            User = "app",
            AuthResponse = [1, 2, 3],
            Database = "shop",
            Plugin = MySqlWire.CachingSha2Password,
        };
        hello.Attributes.Add(new("_client_name", "test"));
        var parsed = ClientHandshake.Parse(hello.Build());
        Assert.Equal("app", parsed.User);
        Assert.Equal("shop", parsed.Database);
        Assert.Equal(MySqlWire.CachingSha2Password, parsed.Plugin);
        Assert.Equal(new byte[] { 1, 2, 3 }, parsed.AuthResponse);
        Assert.Equal("test", Assert.Single(parsed.Attributes).Value);
        Assert.False(ClientHandshake.IsSslRequest(hello.Build()));
        Assert.True(ClientHandshake.IsSslRequest(MySqlWire.SslRequest(hello.Capabilities, 1 << 24, 45)));
    }

    [Fact]
    public void The_gateways_greeting_parses_as_a_server_greeting()
    {
        var scramble = MySqlWire.NewScramble();
        var greeting = ServerGreeting.Parse(MySqlWire.Greeting("8.0.0-test", 1234, scramble, MySqlWire.Relayable, 45, MySqlWire.NativePassword));
        Assert.Equal("8.0.0-test", greeting.ServerVersion);
        Assert.Equal(1234u, greeting.ConnectionId);
        Assert.Equal(scramble, greeting.Scramble);
        Assert.Equal(MySqlWire.Relayable, greeting.Capabilities);
        Assert.Equal(MySqlWire.NativePassword, greeting.Plugin);
    }

    [Theory]
    [InlineData(Scenario.Fast)]
    [InlineData(Scenario.FullWithKey)]
    [InlineData(Scenario.FullAskingForKey)]
    [InlineData(Scenario.SwitchToNative)]
    public async Task The_upstream_login_speaks_caching_sha2_password_and_auth_switch(Scenario scenario)
    {
        using var rsa = RSA.Create(2048);
        const string password = "s3cret-pw";
        await using var server = new ScriptedServer(async (stream, scramble) =>
        {
            var (sequence, payload) = await MySqlWire.ReadPacketAsync(stream, 1 << 16, CancellationToken.None);
            var hello = ClientHandshake.Parse(payload);
            Assert.Equal("app", hello.User);
            Assert.Equal(MySqlWire.CachingSha2Password, hello.Plugin);
            Assert.Equal(MySqlPassword.CachingSha2Scramble(password, scramble), hello.AuthResponse);
            var next = (byte)(sequence + 1);
            switch (scenario)
            {
                case Scenario.Fast:
                    await stream.WriteAsync(MySqlWire.Packet(next++, [1, 3]));
                    break;
                case Scenario.FullWithKey or Scenario.FullAskingForKey:
                    await stream.WriteAsync(MySqlWire.Packet(next, [1, 4]));
                    var (s1, answer) = await MySqlWire.ReadPacketAsync(stream, 1 << 16, CancellationToken.None);
                    if (scenario == Scenario.FullAskingForKey)
                    {
                        Assert.Equal(new byte[] { 2 }, answer);
                        await stream.WriteAsync(MySqlWire.Packet((byte)(s1 + 1), [1, .. Encoding.ASCII.GetBytes(rsa.ExportSubjectPublicKeyInfoPem())]));
                        (s1, answer) = await MySqlWire.ReadPacketAsync(stream, 1 << 16, CancellationToken.None);
                    }
                    var plain = rsa.Decrypt(answer, RSAEncryptionPadding.OaepSHA1);
                    for (var i = 0; i < plain.Length; i++)
                    {
                        plain[i] ^= scramble[i % scramble.Length];
                    }
                    Assert.Equal(password + "\0", Encoding.UTF8.GetString(plain));
                    next = (byte)(s1 + 1);
                    break;
                case Scenario.SwitchToNative:
                    var fresh = MySqlWire.NewScramble();
                    await stream.WriteAsync(MySqlWire.Packet(next, MySqlWire.AuthSwitch(MySqlWire.NativePassword, fresh)));
                    var (s2, native) = await MySqlWire.ReadPacketAsync(stream, 1 << 16, CancellationToken.None);
                    Assert.Equal(MySqlPassword.NativeScramble(password, fresh), native);
                    next = (byte)(s2 + 1);
                    break;
            }
            await stream.WriteAsync(MySqlWire.Packet(next, [0, 0, 0, 2, 0, 0, 0]));
        });
        var db = Database(server.Port, scenario switch
        {
            Scenario.FullWithKey => rsa.ExportSubjectPublicKeyInfoPem(),
            _ => null,
        }, getKey: scenario == Scenario.FullAskingForKey);
        await using var upstream = await MySqlUpstreamLogin.LoginAsync(db, Request, password, CancellationToken.None);
        Assert.Equal(scenario == Scenario.SwitchToNative ? MySqlWire.NativePassword : MySqlWire.CachingSha2Password, upstream.AuthMethod);
        Assert.Equal(77u, upstream.ThreadId);
        await server.Done;
    }

    [Fact]
    public async Task Full_authentication_over_plain_tcp_without_a_key_is_refused_before_the_password_is_sent()
    {
        byte[]? after = null;
        await using var server = new ScriptedServer(async (stream, scramble) =>
        {
            var (sequence, _) = await MySqlWire.ReadPacketAsync(stream, 1 << 16, CancellationToken.None);
            await stream.WriteAsync(MySqlWire.Packet((byte)(sequence + 1), [1, 4]));
            var rest = new MemoryStream();
            await stream.CopyToAsync(rest);
            after = rest.ToArray();
        });
        var error = await Assert.ThrowsAsync<MySqlUpstreamException>(() => MySqlUpstreamLogin.LoginAsync(Database(server.Port, null, getKey: false), Request, "s3cret-pw", CancellationToken.None));
        Assert.True(error.Downgrade);
        Assert.Contains("no serverPublicKeyFile", error.Message, StringComparison.Ordinal);
        await server.Done;
        Assert.Empty(after!);
    }

    private static readonly MySqlUpstreamLogin.Request Request = new("app", "shop", MySqlWire.Protocol41 | MySqlWire.Transactions, 1 << 24, 45, []);

    private static DatabaseSettings Database(int port, string? key, bool getKey) => new()
    {
        Name = "shop",
        Engine = DatabaseEngine.MySql,
        Host = "127.0.0.1",
        Port = port,
        UpstreamDatabase = "shop",
        SslMode = UpstreamSslMode.Disable,
        ServerName = "127.0.0.1",
        MinimumAuth = UpstreamAuth.ScramSha256,
        Roles = FrozenDictionary<string, DatabaseRole>.Empty,
        PassParameters = FrozenSet<string>.Empty,
        ServerPublicKey = key,
        GetServerPublicKey = getKey,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    };

    /// <summary>One connection on loopback: a caching_sha2_password greeting, then the script.</summary>
    private sealed class ScriptedServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

        public ScriptedServer(Func<NetworkStream, byte[], Task> script)
        {
            _listener.Start();
            Done = Task.Run(async () =>
            {
                using var client = await _listener.AcceptTcpClientAsync();
                await using var stream = client.GetStream();
                var scramble = MySqlWire.NewScramble();
                var caps = MySqlWire.Relayable | MySqlWire.Ssl;
                await stream.WriteAsync(MySqlWire.Packet(0, MySqlWire.Greeting("8.0.36", 77, scramble, caps, 255, MySqlWire.CachingSha2Password)));
                await script(stream, scramble);
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public Task Done { get; }

        public ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
