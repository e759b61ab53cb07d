using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using SecretlessProxy.Postgres;

namespace SecretlessProxy.Tests.Postgres;

public sealed class PgWireTests
{
    private static async Task<PipeReader> ReaderOf(byte[] bytes, bool complete = true)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(bytes);
        if (complete)
        {
            await pipe.Writer.CompleteAsync();
        }
        return pipe.Reader;
    }

    [Fact]
    public void An_error_response_carries_severity_sqlstate_message_and_detail_and_parses_back()
    {
        var message = PgWire.ErrorResponse("28000", "access denied", detail: "rule x", hint: "ask");
        Assert.Equal((byte)'E', message[0]);
        Assert.Equal(message.Length - 1, BinaryPrimitives.ReadInt32BigEndian(message.AsSpan(1)));
        var fields = PgWire.Fields(message.AsSpan(5));
        Assert.Equal("FATAL", fields['S']);
        Assert.Equal("FATAL", fields['V']);
        Assert.Equal("28000", fields['C']);
        Assert.Equal("access denied", fields['M']);
        Assert.Equal("rule x", fields['D']);
        Assert.Equal("ask", fields['H']);
    }

    [Fact]
    public void A_nul_inside_an_error_text_cannot_end_its_field_early()
    {
        var fields = PgWire.Fields(PgWire.ErrorResponse("08P01", "bad\0Cforged").AsSpan(5));
        Assert.Equal("08P01", fields['C']);
        Assert.Equal("bad Cforged", fields['M']);
    }

    [Fact]
    public async Task A_startup_packet_round_trips_its_parameters()
    {
        var packet = PgWire.Startup([new("user", "app"), new("database", "orders"), new("application_name", "ünïcode")]);
        var payload = await PgWire.ReadStartupAsync(await ReaderOf(packet), CancellationToken.None);
        Assert.Equal(PgWire.ProtocolVersion3, BinaryPrimitives.ReadInt32BigEndian(payload));
        var parameters = PgWire.Parameters(payload.AsSpan(4));
        Assert.Equal(["app", "orders", "ünïcode"], [parameters["user"], parameters["database"], parameters["application_name"]]);
    }

    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    [InlineData(7)]
    [InlineData(10_001)]
    public async Task Startup_lengths_out_of_bounds_are_refused_before_anything_is_allocated(int length)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(bytes, length);
        var error = await Assert.ThrowsAsync<PgProtocolException>(async () => await PgWire.ReadStartupAsync(await ReaderOf(bytes), CancellationToken.None));
        Assert.Contains("invalid startup packet length", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clean_close_before_any_byte_is_no_packet_and_a_partial_one_is_an_error()
    {
        Assert.Null(await PgWire.ReadStartupAsync(await ReaderOf([]), CancellationToken.None));
        await Assert.ThrowsAsync<PgProtocolException>(async () => await PgWire.ReadStartupAsync(await ReaderOf([0, 0, 0, 40, 0, 3]), CancellationToken.None));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(70_000)]
    public async Task Message_lengths_are_checked_against_the_bound(int length)
    {
        var bytes = new byte[5];
        bytes[0] = (byte)'R';
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), length);
        await Assert.ThrowsAsync<PgProtocolException>(async () => await PgWire.ReadMessageAsync(await ReaderOf(bytes), PgWire.MaxLoginMessageLength, CancellationToken.None));
    }

    [Theory]
    [InlineData("user\0app")]
    [InlineData("user\0app\0")]
    [InlineData("user")]
    [InlineData("user\0a\0user\0b\0\0")]
    public void Broken_parameter_lists_are_protocol_violations(string text) =>
        Assert.Throws<PgProtocolException>(() => PgWire.Parameters(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public async Task Bytes_waiting_in_the_pipe_are_seen_without_being_consumed()
    {
        var reader = await ReaderOf([1, 2, 3], complete: false);
        Assert.True(PgWire.HasBufferedBytes(reader));
        var result = await reader.ReadAsync();
        Assert.Equal(3, result.Buffer.Length);
    }
}

public sealed class CancelRegistryTests
{
    [Fact]
    public async Task Unknown_keys_are_dropped_without_connecting_anywhere_and_keys_are_distinct()
    {
        var registry = new CancelRegistry();
        // A port nobody listens on: a forwarded cancel would fail to connect; an unknown key must not even try.
        var target = new CancelTarget("127.0.0.1", 1, 42, 4242, TimeSpan.FromSeconds(1));
        var keys = Enumerable.Range(0, 1000).Select(_ => registry.Register(target)).ToList();
        Assert.Equal(1000, keys.Distinct().Count());
        Assert.All(keys, k => Assert.True(k.Pid > 0));
        Assert.False(await registry.CancelAsync(keys[0].Pid, keys[0].Secret + 1, CancellationToken.None));
        registry.Remove(keys[0].Pid, keys[0].Secret);
        Assert.False(await registry.CancelAsync(keys[0].Pid, keys[0].Secret, CancellationToken.None));
        Assert.Equal(999, registry.Count);
    }
}

public sealed class ScramKeyCacheTests
{
    [Theory]
    [InlineData("pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096)]
    [InlineData("pencil", "QSXCR+Q6sek8bf92", 4096)]
    [InlineData("pencil", "W22ZaJ0SNY7soEsUEjb6gQ==", 8192)]
    [InlineData("I\u00ADX", "W22ZaJ0SNY7soEsUEjb6gQ==", 4096)]
    public void Cached_keys_are_the_derived_keys_for_that_password_salt_and_count(string password, string salt, int iterations)
    {
        var saltBytes = Convert.FromBase64String(salt);
        var expectedClient = new byte[SecretlessProxy.Postgres.Auth.ScramKeys.Size];
        var expectedServer = new byte[SecretlessProxy.Postgres.Auth.ScramKeys.Size];
        SecretlessProxy.Postgres.Auth.ScramKeys.Derive(password, saltBytes, iterations, expectedClient, expectedServer);
        for (var i = 0; i < 2; i++)
        {
            var client = new byte[expectedClient.Length];
            var server = new byte[expectedServer.Length];
            SecretlessProxy.Postgres.Auth.ScramKeys.DeriveCached(password, saltBytes, iterations, client, server);
            Assert.Equal(expectedClient, client);
            Assert.Equal(expectedServer, server);
        }
        // Another password with the same salt never gets these keys.
        var other = new byte[expectedClient.Length];
        SecretlessProxy.Postgres.Auth.ScramKeys.DeriveCached(password + "!", saltBytes, iterations, other, new byte[expectedServer.Length]);
        Assert.NotEqual(expectedClient, other);
    }
}
