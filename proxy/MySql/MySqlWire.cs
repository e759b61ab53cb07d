using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.MySql;

/// <summary>
/// The MySQL client/server protocol as far as the gateway speaks it: packets (3-byte length, sequence id, payload),
/// the HandshakeV10 greeting, SSLRequest, HandshakeResponse41, OK/ERR, auth switch and more-data packets, and the text
/// result sets of the gateway's own admin statements. After a client's login the gateway relays packets verbatim.
/// </summary>
internal static class MySqlWire
{
    public const uint LongPassword = 1;
    public const uint FoundRows = 2;
    public const uint LongFlag = 4;
    public const uint ConnectWithDb = 8;
    public const uint NoSchema = 16;
    public const uint Compress = 32;
    public const uint Odbc = 64;
    public const uint LocalFiles = 128;
    public const uint IgnoreSpace = 256;
    public const uint Protocol41 = 512;
    public const uint Interactive = 1024;
    public const uint Ssl = 2048;
    public const uint IgnoreSigpipe = 4096;
    public const uint Transactions = 8192;
    public const uint Reserved = 16384;
    public const uint SecureConnection = 32768;
    public const uint MultiStatements = 1u << 16;
    public const uint MultiResults = 1u << 17;
    public const uint PsMultiResults = 1u << 18;
    public const uint PluginAuth = 1u << 19;
    public const uint ConnectAttrs = 1u << 20;
    public const uint PluginAuthLenencData = 1u << 21;
    public const uint SessionTrack = 1u << 23;
    public const uint DeprecateEof = 1u << 24;

    /// <summary>
    /// Flags that shape what flows after the login (row and OK formats, EOF packets, multi-statements): the client's
    /// choice of these goes to the upstream as it is, so the packets the relay passes verbatim mean the same to both.
    /// </summary>
    public const uint SessionFlags = FoundRows | LongFlag | NoSchema | Odbc | IgnoreSpace | Protocol41 | Interactive | IgnoreSigpipe | Transactions | Reserved
        | MultiStatements | MultiResults | PsMultiResults | SessionTrack | DeprecateEof;

    /// <summary>Session flags that change the format of packets (not only what a statement means): the upstream must offer each the client chose.</summary>
    public const uint FormatFlags = Protocol41 | MultiResults | PsMultiResults | SessionTrack | DeprecateEof;

    /// <summary>Flags of the login itself, which the gateway handles on each side on its own.</summary>
    public const uint LoginFlags = LongPassword | ConnectWithDb | SecureConnection | PluginAuth | ConnectAttrs | PluginAuthLenencData;

    /// <summary>What the gateway's greeting may offer: no compression, no LOCAL INFILE, no query attributes, no expired-password sandbox.</summary>
    public const uint Relayable = SessionFlags | LoginFlags;

    public const byte ComQuit = 0x01;
    public const byte ComQuery = 0x03;
    public const byte ComProcessKill = 0x0C;
    public const byte ComChangeUser = 0x11;

    public const byte OkHeader = 0x00;
    public const byte MoreDataHeader = 0x01;
    public const byte EofHeader = 0xFE;
    public const byte ErrHeader = 0xFF;

    public const string NativePassword = "mysql_native_password";
    public const string CachingSha2Password = "caching_sha2_password";
    public const string ClearPassword = "mysql_clear_password";
    public const string Ed25519 = "client_ed25519";

    /// <summary>The bound on one packet during a login (greeting, handshake response with attributes, auth exchange).</summary>
    public const int MaxLoginPacket = 1 << 16;

    /// <summary>The largest payload one frame holds; a longer payload continues in the next frame.</summary>
    public const int MaxFrame = 0xFFFFFF;

    /// <summary>utf8mb4_general_ci, the greeting's collation when no upstream told another.</summary>
    public const byte DefaultCollation = 45;

    /// <summary>SERVER_STATUS_AUTOCOMMIT.</summary>
    public const ushort StatusAutocommit = 2;

    /// <summary>SERVER_MORE_RESULTS_EXISTS.</summary>
    public const ushort StatusMoreResults = 8;

    public static byte[] Packet(byte sequence, ReadOnlySpan<byte> payload)
    {
        if (payload.Length >= MaxFrame)
        {
            throw new ArgumentException("a gateway packet is shorter than one frame", nameof(payload));
        }
        var packet = new byte[4 + payload.Length];
        packet[0] = (byte)payload.Length;
        packet[1] = (byte)(payload.Length >> 8);
        packet[2] = (byte)(payload.Length >> 16);
        packet[3] = sequence;
        payload.CopyTo(packet.AsSpan(4));
        return packet;
    }

    /// <summary>
    /// One packet from <paramref name="reader"/>: null at a clean end before its first byte; a length above
    /// <paramref name="max"/> (checked before anything is allocated) or an end inside it is a protocol violation.
    /// </summary>
    public static async ValueTask<(byte Sequence, byte[] Payload)?> ReadPacketAsync(PipeReader reader, int max, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length >= 4)
            {
                buffer.Slice(0, 4).CopyTo(header);
                var length = header[0] | (header[1] << 8) | (header[2] << 16);
                if (length > max)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new MySqlProtocolException($"a packet of {length} bytes, more than the {max} a login allows");
                }
                if (buffer.Length >= 4 + length)
                {
                    var payload = buffer.Slice(4, length).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(4 + length));
                    return (header[3], payload);
                }
            }
            if (result.IsCompleted)
            {
                var empty = buffer.Length == 0;
                reader.AdvanceTo(buffer.End);
                return empty ? null : throw new MySqlProtocolException("the connection ended inside a packet");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>One packet from a stream (the upstream login); an end of stream is an <see cref="IOException"/>.</summary>
    public static async ValueTask<(byte Sequence, byte[] Payload)> ReadPacketAsync(Stream stream, int max, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        await stream.ReadExactlyAsync(header, cancellationToken);
        var length = header[0] | (header[1] << 8) | (header[2] << 16);
        if (length > max)
        {
            throw new MySqlProtocolException($"the upstream sent a packet of {length} bytes during the login, more than {max}");
        }
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        return (header[3], payload);
    }

    /// <summary>Whether the client sent bytes the gateway has not read yet (none may follow an SSLRequest before the TLS handshake).</summary>
    public static bool HasBufferedBytes(PipeReader reader)
    {
        if (!reader.TryRead(out var result))
        {
            return false;
        }
        var any = result.Buffer.Length > 0;
        reader.AdvanceTo(result.Buffer.Start);
        return any;
    }

    /// <summary>An ERR packet payload (protocol 4.1: with the SQLSTATE marker).</summary>
    public static byte[] Err(ushort code, string sqlState, string message)
    {
        var text = Encoding.UTF8.GetBytes(message.Replace('\0', ' '));
        var payload = new byte[9 + text.Length];
        payload[0] = ErrHeader;
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(1), code);
        payload[3] = (byte)'#';
        Encoding.ASCII.GetBytes(sqlState.PadRight(5, '0').AsSpan(0, 5), payload.AsSpan(4));
        text.CopyTo(payload, 9);
        return payload;
    }

    /// <summary>The parts of an ERR packet payload.</summary>
    public static (ushort Code, string SqlState, string Message) ParseErr(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 3 || payload[0] != ErrHeader)
        {
            return (0, "HY000", "(a malformed error packet)");
        }
        var code = BinaryPrimitives.ReadUInt16LittleEndian(payload[1..]);
        var rest = payload[3..];
        var state = "HY000";
        if (rest.Length >= 6 && rest[0] == (byte)'#')
        {
            state = Encoding.ASCII.GetString(rest.Slice(1, 5));
            rest = rest[6..];
        }
        return (code, state, Encoding.UTF8.GetString(rest));
    }

    /// <summary>A fresh 20-byte scramble of printable characters (never NUL: some clients read it as a C string).</summary>
    public static byte[] NewScramble()
    {
        var scramble = new byte[20];
        for (var i = 0; i < scramble.Length; i++)
        {
            scramble[i] = (byte)RandomNumberGenerator.GetInt32(0x21, 0x7F);
        }
        return scramble;
    }

    /// <summary>The gateway's HandshakeV10 greeting payload.</summary>
    public static byte[] Greeting(string serverVersion, uint connectionId, byte[] scramble, uint capabilities, byte collation, string plugin)
    {
        var body = new ArrayBufferWriter<byte>(128);
        WriteByte(body, 10);
        body.Write(Encoding.ASCII.GetBytes(serverVersion));
        WriteByte(body, 0);
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(four, connectionId);
        body.Write(four);
        body.Write(scramble.AsSpan(0, 8));
        WriteByte(body, 0);
        Span<byte> two = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(two, (ushort)capabilities);
        body.Write(two);
        WriteByte(body, collation);
        BinaryPrimitives.WriteUInt16LittleEndian(two, StatusAutocommit);
        body.Write(two);
        BinaryPrimitives.WriteUInt16LittleEndian(two, (ushort)(capabilities >> 16));
        body.Write(two);
        WriteByte(body, (byte)(scramble.Length + 1));
        body.Write(new byte[10]);
        body.Write(scramble.AsSpan(8));
        WriteByte(body, 0);
        body.Write(Encoding.ASCII.GetBytes(plugin));
        WriteByte(body, 0);
        return body.WrittenSpan.ToArray();
    }

    /// <summary>An SSLRequest payload: the capabilities (with <see cref="Ssl"/>), max packet size and collation, then 23 zero bytes.</summary>
    public static byte[] SslRequest(uint capabilities, uint maxPacket, byte collation)
    {
        var payload = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, capabilities | Ssl);
        BinaryPrimitives.WriteUInt32LittleEndian(payload.AsSpan(4), maxPacket);
        payload[8] = collation;
        return payload;
    }

    /// <summary>An AuthSwitchRequest payload: the plugin and its data (the scramble, NUL-terminated).</summary>
    public static byte[] AuthSwitch(string plugin, byte[] scramble)
    {
        var name = Encoding.ASCII.GetBytes(plugin);
        var payload = new byte[1 + name.Length + 1 + scramble.Length + 1];
        payload[0] = EofHeader;
        name.CopyTo(payload, 1);
        scramble.CopyTo(payload, name.Length + 2);
        return payload;
    }

    public static void WriteByte(IBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    /// <summary>A length-encoded integer.</summary>
    public static void WriteLengthEncoded(IBufferWriter<byte> writer, ulong value)
    {
        Span<byte> bytes = stackalloc byte[9];
        int length;
        if (value < 251)
        {
            bytes[0] = (byte)value;
            length = 1;
        }
        else if (value < 1 << 16)
        {
            bytes[0] = 0xFC;
            BinaryPrimitives.WriteUInt16LittleEndian(bytes[1..], (ushort)value);
            length = 3;
        }
        else if (value < 1 << 24)
        {
            bytes[0] = 0xFD;
            bytes[1] = (byte)value;
            bytes[2] = (byte)(value >> 8);
            bytes[3] = (byte)(value >> 16);
            length = 4;
        }
        else
        {
            bytes[0] = 0xFE;
            BinaryPrimitives.WriteUInt64LittleEndian(bytes[1..], value);
            length = 9;
        }
        writer.Write(bytes[..length]);
    }

    public static void WriteLengthEncoded(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteLengthEncoded(writer, (ulong)value.Length);
        writer.Write(value);
    }
}

/// <summary>A reader over one packet's payload; every read is bounds-checked, and a short payload is a <see cref="MySqlProtocolException"/>.</summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> payload)
{
    private readonly ReadOnlySpan<byte> _payload = payload;
    private int _at;

    public readonly int Remaining => _payload.Length - _at;

    public byte Byte()
    {
        Need(1);
        return _payload[_at++];
    }

    public ushort UInt16()
    {
        Need(2);
        var value = BinaryPrimitives.ReadUInt16LittleEndian(_payload[_at..]);
        _at += 2;
        return value;
    }

    public uint UInt32()
    {
        Need(4);
        var value = BinaryPrimitives.ReadUInt32LittleEndian(_payload[_at..]);
        _at += 4;
        return value;
    }

    public ReadOnlySpan<byte> Bytes(int count)
    {
        if (count < 0)
        {
            throw new MySqlProtocolException("a negative length");
        }
        Need(count);
        var value = _payload.Slice(_at, count);
        _at += count;
        return value;
    }

    public ReadOnlySpan<byte> Rest() => Bytes(Remaining);

    /// <summary>A NUL-terminated string; a missing NUL is a violation unless <paramref name="endOk"/> (then the rest).</summary>
    public ReadOnlySpan<byte> NulTerminated(bool endOk = false)
    {
        var rest = _payload[_at..];
        var end = rest.IndexOf((byte)0);
        if (end < 0)
        {
            if (!endOk)
            {
                throw new MySqlProtocolException("a string without its terminating NUL");
            }
            _at = _payload.Length;
            return rest;
        }
        _at += end + 1;
        return rest[..end];
    }

    public ulong LengthEncoded()
    {
        var first = Byte();
        switch (first)
        {
            case < 0xFB:
                return first;
            case 0xFC:
                return UInt16();
            case 0xFD:
                var three = Bytes(3);
                return (ulong)(three[0] | (three[1] << 8) | (three[2] << 16));
            case 0xFE:
                Need(8);
                var value = BinaryPrimitives.ReadUInt64LittleEndian(_payload[_at..]);
                _at += 8;
                return value;
            default:
                throw new MySqlProtocolException($"0x{first:X2} is not a length-encoded integer");
        }
    }

    public ReadOnlySpan<byte> LengthEncodedBytes()
    {
        var length = LengthEncoded();
        if (length > (ulong)Remaining)
        {
            throw new MySqlProtocolException($"a length-encoded string of {length} bytes in a packet with {Remaining} left");
        }
        return Bytes((int)length);
    }

    private readonly void Need(int count)
    {
        if (count > Remaining)
        {
            throw new MySqlProtocolException("a packet shorter than its fields");
        }
    }
}

/// <summary>A client (or upstream) that broke the MySQL protocol: the gateway answers with an ERR packet and closes.</summary>
internal sealed class MySqlProtocolException(string message) : Exception(message);
