using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace SecretlessProxy.MySql;

/// <summary>A server's HandshakeV10 greeting, as the gateway reads an upstream's.</summary>
internal sealed record ServerGreeting(string ServerVersion, uint ConnectionId, byte[] Scramble, uint Capabilities, byte Collation, ushort Status, string Plugin)
{
    public static ServerGreeting Parse(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var protocol = reader.Byte();
        if (protocol == MySqlWire.ErrHeader)
        {
            var (code, state, message) = MySqlWire.ParseErr(payload);
            throw new MySqlUpstreamException(code, state, "the upstream refused the connection: " + message, upstreamRefused: true);
        }
        if (protocol != 10)
        {
            throw new MySqlProtocolException($"the upstream speaks handshake protocol {protocol}, not 10");
        }
        var version = Encoding.ASCII.GetString(reader.NulTerminated());
        var id = reader.UInt32();
        var part1 = reader.Bytes(8).ToArray();
        reader.Byte();
        uint capabilities = reader.UInt16();
        byte collation = 0;
        ushort status = 0;
        var part2 = Array.Empty<byte>();
        var plugin = MySqlWire.NativePassword;
        if (reader.Remaining > 0)
        {
            collation = reader.Byte();
            status = reader.UInt16();
            capabilities |= (uint)reader.UInt16() << 16;
            var dataLength = reader.Byte();
            reader.Bytes(10);
            if ((capabilities & MySqlWire.SecureConnection) != 0)
            {
                var length = Math.Max(13, dataLength - 8);
                part2 = reader.Bytes(Math.Min(length, reader.Remaining)).ToArray();
                // The 13th byte is the scramble's NUL.
                if (part2.Length > 12)
                {
                    part2 = part2[..12];
                }
            }
            if ((capabilities & MySqlWire.PluginAuth) != 0 && reader.Remaining > 0)
            {
                plugin = Encoding.ASCII.GetString(reader.NulTerminated(endOk: true));
            }
        }
        return new ServerGreeting(version, id, [.. part1, .. part2], capabilities, collation, status, plugin);
    }
}

/// <summary>A client's HandshakeResponse41 (what the gateway reads from its client and writes to the upstream).</summary>
internal sealed class ClientHandshake
{
    /// <summary>The most connection attributes the gateway passes on (each a key and a value).</summary>
    public const int MaxAttributes = 64;

    public uint Capabilities { get; set; }

    public uint MaxPacket { get; set; }

    public byte Collation { get; set; }

    public string User { get; set; } = "";

    /// <summary>The auth response; from a client it is discarded unread.</summary>
    public byte[] AuthResponse { get; set; } = [];

    public string? Database { get; set; }

    public string? Plugin { get; set; }

    public List<KeyValuePair<string, string>> Attributes { get; } = [];

    /// <summary>Whether the payload is an SSLRequest (exactly the fixed 32-byte part, with <see cref="MySqlWire.Ssl"/>).</summary>
    public static bool IsSslRequest(ReadOnlySpan<byte> payload) =>
        payload.Length == 32 && (BinaryPrimitives.ReadUInt32LittleEndian(payload) & MySqlWire.Ssl) != 0;

    public static ClientHandshake Parse(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (payload.Length < 4 || (BinaryPrimitives.ReadUInt32LittleEndian(payload) & MySqlWire.Protocol41) == 0)
        {
            throw new MySqlProtocolException("a pre-4.1 handshake response: the gateway speaks protocol 4.1");
        }
        var result = new ClientHandshake
        {
            Capabilities = reader.UInt32(),
            MaxPacket = reader.UInt32(),
            Collation = reader.Byte(),
        };
        reader.Bytes(23);
        result.User = Utf8(reader.NulTerminated(), "user name");
        if ((result.Capabilities & MySqlWire.PluginAuthLenencData) != 0)
        {
            result.AuthResponse = reader.LengthEncodedBytes().ToArray();
        }
        else if ((result.Capabilities & MySqlWire.SecureConnection) != 0)
        {
            result.AuthResponse = reader.Bytes(reader.Byte()).ToArray();
        }
        else
        {
            result.AuthResponse = reader.NulTerminated().ToArray();
        }
        if ((result.Capabilities & MySqlWire.ConnectWithDb) != 0 && reader.Remaining > 0)
        {
            result.Database = Utf8(reader.NulTerminated(endOk: true), "database name");
        }
        if ((result.Capabilities & MySqlWire.PluginAuth) != 0 && reader.Remaining > 0)
        {
            result.Plugin = Encoding.ASCII.GetString(reader.NulTerminated(endOk: true));
        }
        if ((result.Capabilities & MySqlWire.ConnectAttrs) != 0 && reader.Remaining > 0)
        {
            var length = reader.LengthEncoded();
            if (length > (ulong)reader.Remaining)
            {
                throw new MySqlProtocolException($"connection attributes of {length} bytes in a packet with {reader.Remaining} left");
            }
            var attributes = new PayloadReader(reader.Bytes((int)length));
            while (attributes.Remaining > 0)
            {
                var key = Utf8(attributes.LengthEncodedBytes(), "attribute name");
                var value = Utf8(attributes.LengthEncodedBytes(), "attribute value");
                if (result.Attributes.Count < MaxAttributes)
                {
                    result.Attributes.Add(new(key, value));
                }
            }
        }
        return result;
    }

    /// <summary>The payload, as the gateway sends it upstream.</summary>
    public byte[] Build()
    {
        var body = new ArrayBufferWriter<byte>(256);
        Span<byte> fixedPart = stackalloc byte[32];
        fixedPart.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart, Capabilities);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[4..], MaxPacket);
        fixedPart[8] = Collation;
        body.Write(fixedPart);
        body.Write(Encoding.UTF8.GetBytes(User));
        MySqlWire.WriteByte(body, 0);
        if ((Capabilities & MySqlWire.PluginAuthLenencData) != 0)
        {
            MySqlWire.WriteLengthEncoded(body, AuthResponse);
        }
        else
        {
            MySqlWire.WriteByte(body, (byte)AuthResponse.Length);
            body.Write(AuthResponse);
        }
        if ((Capabilities & MySqlWire.ConnectWithDb) != 0)
        {
            body.Write(Encoding.UTF8.GetBytes(Database ?? ""));
            MySqlWire.WriteByte(body, 0);
        }
        if ((Capabilities & MySqlWire.PluginAuth) != 0)
        {
            body.Write(Encoding.ASCII.GetBytes(Plugin ?? MySqlWire.NativePassword));
            MySqlWire.WriteByte(body, 0);
        }
        if ((Capabilities & MySqlWire.ConnectAttrs) != 0)
        {
            var attributes = new ArrayBufferWriter<byte>(256);
            foreach (var (key, value) in Attributes)
            {
                MySqlWire.WriteLengthEncoded(attributes, Encoding.UTF8.GetBytes(key));
                MySqlWire.WriteLengthEncoded(attributes, Encoding.UTF8.GetBytes(value));
            }
            MySqlWire.WriteLengthEncoded(body, attributes.WrittenSpan);
        }
        return body.WrittenSpan.ToArray();
    }

    private static string Utf8(ReadOnlySpan<byte> bytes, string what)
    {
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new MySqlProtocolException($"a {what} that is not UTF-8");
        }
    }
}
