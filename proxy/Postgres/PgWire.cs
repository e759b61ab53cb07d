using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;

namespace SecretlessProxy.Postgres;

/// <summary>
/// The PostgreSQL frontend/backend protocol (version 3.0) as far as the gateway speaks it: the startup phase, the
/// authentication exchange and errors, and the simple query protocol for the gateway's own statements
/// (<see cref="PgQuerySession"/>). After a client's login the gateway relays bytes and parses nothing.
/// </summary>
internal static class PgWire
{
    public const int SslRequestCode = 80877103;
    public const int GssEncRequestCode = 80877104;
    public const int CancelRequestCode = 80877102;
    public const int ProtocolVersion3 = 3 << 16;

    /// <summary>PostgreSQL's own bound on a startup packet (MAX_STARTUP_PACKET_LENGTH).</summary>
    public const int MaxStartupLength = 10_000;

    /// <summary>The bound on one message during the upstream login (authentication, parameter status, notices).</summary>
    public const int MaxLoginMessageLength = 1 << 16;

    public const byte Authentication = (byte)'R';
    public const byte ErrorResponseType = (byte)'E';
    public const byte NoticeResponse = (byte)'N';
    public const byte ParameterStatus = (byte)'S';
    public const byte BackendKeyData = (byte)'K';
    public const byte ReadyForQuery = (byte)'Z';
    public const byte NegotiateProtocolVersion = (byte)'v';
    public const byte RowDescription = (byte)'T';
    public const byte DataRowType = (byte)'D';
    public const byte CommandComplete = (byte)'C';
    public const byte EmptyQueryResponse = (byte)'I';
    public const byte NotificationResponse = (byte)'A';
    public const byte CopyInResponse = (byte)'G';
    public const byte CopyOutResponse = (byte)'H';
    public const byte CopyData = (byte)'d';
    public const byte CopyDone = (byte)'c';

    public const int AuthOk = 0;
    public const int AuthCleartext = 3;
    public const int AuthMd5 = 5;
    public const int AuthSasl = 10;
    public const int AuthSaslContinue = 11;
    public const int AuthSaslFinal = 12;

    /// <summary>An <c>ErrorResponse</c> (severity FATAL unless given), fields S, V, C, M and optionally D and H.</summary>
    public static byte[] ErrorResponse(string sqlState, string message, string? detail = null, string? hint = null, string severity = "FATAL")
    {
        var body = new List<byte>(128);
        void Field(char code, string value)
        {
            body.Add((byte)code);
            body.AddRange(Encoding.UTF8.GetBytes(value.Replace('\0', ' ')));
            body.Add(0);
        }
        Field('S', severity);
        Field('V', severity);
        Field('C', sqlState);
        Field('M', message);
        if (detail is not null)
        {
            Field('D', detail);
        }
        if (hint is not null)
        {
            Field('H', hint);
        }
        body.Add(0);
        return Message(ErrorResponseType, [.. body]);
    }

    public static byte[] AuthenticationOk() => Message(Authentication, [0, 0, 0, 0]);

    public static byte[] BackendKey(int pid, int secret)
    {
        var payload = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(payload, pid);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(4), secret);
        return Message(BackendKeyData, payload);
    }

    /// <summary><c>NegotiateProtocolVersion</c>: the newest minor version supported and the options not recognized.</summary>
    public static byte[] NegotiateVersion(int newestMinor, IReadOnlyList<string> unrecognized)
    {
        var body = new List<byte>();
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(number, ProtocolVersion3 | newestMinor);
        body.AddRange(number.ToArray());
        BinaryPrimitives.WriteInt32BigEndian(number, unrecognized.Count);
        body.AddRange(number.ToArray());
        foreach (var option in unrecognized)
        {
            body.AddRange(Encoding.UTF8.GetBytes(option));
            body.Add(0);
        }
        return Message(NegotiateProtocolVersion, [.. body]);
    }

    /// <summary>A startup message (protocol 3.0) with these parameters.</summary>
    public static byte[] Startup(IEnumerable<KeyValuePair<string, string>> parameters)
    {
        var body = new List<byte>(256);
        Span<byte> number = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(number, ProtocolVersion3);
        body.AddRange(number.ToArray());
        foreach (var (key, value) in parameters)
        {
            body.AddRange(Encoding.UTF8.GetBytes(key));
            body.Add(0);
            body.AddRange(Encoding.UTF8.GetBytes(value));
            body.Add(0);
        }
        body.Add(0);
        return Untyped([.. body]);
    }

    public static byte[] SslRequest() => Code(SslRequestCode);

    public static byte[] CancelRequest(int pid, int secret)
    {
        var packet = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(packet, 16);
        BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), CancelRequestCode);
        BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(8), pid);
        BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(12), secret);
        return packet;
    }

    /// <summary>A <c>PasswordMessage</c> ('p') carrying a NUL-terminated password or MD5 response.</summary>
    public static byte[] Password(ReadOnlySpan<byte> value)
    {
        var body = new byte[value.Length + 1];
        value.CopyTo(body);
        return Message((byte)'p', body);
    }

    public static byte[] SaslInitialResponse(string mechanism, ReadOnlySpan<byte> data)
    {
        var name = Encoding.ASCII.GetBytes(mechanism);
        var body = new byte[name.Length + 1 + 4 + data.Length];
        name.CopyTo(body, 0);
        BinaryPrimitives.WriteInt32BigEndian(body.AsSpan(name.Length + 1), data.Length);
        data.CopyTo(body.AsSpan(name.Length + 5));
        return Message((byte)'p', body);
    }

    public static byte[] SaslResponse(ReadOnlySpan<byte> data) => Message((byte)'p', data.ToArray());

    /// <summary>A simple <c>Query</c> ('Q'): the SQL text, NUL-terminated (it may hold several statements).</summary>
    public static byte[] Query(string sql) => Message((byte)'Q', CString(sql));

    /// <summary><c>CopyFail</c> ('f'): declines a COPY FROM STDIN the server asked for.</summary>
    public static byte[] CopyFail(string reason) => Message((byte)'f', CString(reason));

    /// <summary><c>Terminate</c> ('X'): the session ends.</summary>
    public static byte[] Terminate() => Message((byte)'X', []);

    private static byte[] CString(string text)
    {
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("a protocol string cannot hold NUL", nameof(text));
        }
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    /// <summary>The text before the first NUL of a payload (a <c>CommandComplete</c> tag).</summary>
    public static string Text(ReadOnlySpan<byte> payload)
    {
        var end = payload.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? payload : payload[..end]);
    }

    /// <summary>The columns of a <c>DataRow</c> in text format (null for SQL NULL).</summary>
    public static string?[] DataRow(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 2)
        {
            throw new PgProtocolException("a DataRow without its column count");
        }
        var count = BinaryPrimitives.ReadInt16BigEndian(payload);
        if (count < 0)
        {
            throw new PgProtocolException($"a DataRow with {count} columns");
        }
        var columns = new string?[count];
        payload = payload[2..];
        for (var i = 0; i < count; i++)
        {
            if (payload.Length < 4)
            {
                throw new PgProtocolException("a DataRow column without its length");
            }
            var length = BinaryPrimitives.ReadInt32BigEndian(payload);
            payload = payload[4..];
            if (length == -1)
            {
                continue;
            }
            if (length < 0 || length > payload.Length)
            {
                throw new PgProtocolException($"a DataRow column of length {length} in {payload.Length} bytes");
            }
            columns[i] = Encoding.UTF8.GetString(payload[..length]);
            payload = payload[length..];
        }
        return columns;
    }

    private static byte[] Code(int code)
    {
        var packet = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(packet, 8);
        BinaryPrimitives.WriteInt32BigEndian(packet.AsSpan(4), code);
        return packet;
    }

    private static byte[] Untyped(byte[] body)
    {
        var packet = new byte[body.Length + 4];
        BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        body.CopyTo(packet, 4);
        return packet;
    }

    public static byte[] Message(byte type, byte[] payload)
    {
        var message = new byte[payload.Length + 5];
        message[0] = type;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), payload.Length + 4);
        payload.CopyTo(message, 5);
        return message;
    }

    /// <summary>
    /// Reads one untyped startup-phase packet (length, then a code or version and the rest), bounded before any
    /// allocation. Null at a clean end of stream before the first byte.
    /// </summary>
    public static async ValueTask<byte[]?> ReadStartupAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length >= 4)
            {
                var length = ReadInt32(buffer);
                if (length is < 8 or > MaxStartupLength)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new PgProtocolException($"invalid startup packet length {length}");
                }
                if (buffer.Length >= length)
                {
                    var packet = buffer.Slice(4, length - 4).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(length));
                    return packet;
                }
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                if (buffer.Length == 0)
                {
                    return null;
                }
                throw new PgProtocolException("incomplete startup packet");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>Reads one typed message (type, length, payload), its length checked against <paramref name="maxLength"/> first.</summary>
    public static async ValueTask<(byte Type, byte[] Payload)> ReadMessageAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length >= 5)
            {
                var type = buffer.FirstSpan[0];
                var length = ReadInt32(buffer.Slice(1));
                if (length < 4 || length > maxLength)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new PgProtocolException($"invalid length {length} of a '{(char)type}' message");
                }
                if (buffer.Length >= length + 1)
                {
                    var payload = buffer.Slice(5, length - 4).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(length + 1));
                    return (type, payload);
                }
            }
            if (result.IsCompleted)
            {
                reader.AdvanceTo(buffer.End);
                throw new PgProtocolException("the connection closed in the middle of a message");
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>True when the reader already holds bytes nobody asked for (sent before the server answered).</summary>
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

    public static int ReadInt32(ReadOnlySequence<byte> buffer)
    {
        Span<byte> four = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(four);
        return BinaryPrimitives.ReadInt32BigEndian(four);
    }

    /// <summary>The startup parameters: NUL-terminated key/value pairs after the version, ending with an empty key.</summary>
    public static Dictionary<string, string> Parameters(ReadOnlySpan<byte> afterVersion)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        while (afterVersion.Length > 0 && afterVersion[0] != 0)
        {
            var keyEnd = afterVersion.IndexOf((byte)0);
            if (keyEnd < 0)
            {
                throw new PgProtocolException("a startup parameter name is not terminated");
            }
            var key = Encoding.UTF8.GetString(afterVersion[..keyEnd]);
            afterVersion = afterVersion[(keyEnd + 1)..];
            var valueEnd = afterVersion.IndexOf((byte)0);
            if (valueEnd < 0)
            {
                throw new PgProtocolException($"startup parameter '{key}' has no terminated value");
            }
            if (!result.TryAdd(key, Encoding.UTF8.GetString(afterVersion[..valueEnd])))
            {
                throw new PgProtocolException($"startup parameter '{key}' is given twice");
            }
            afterVersion = afterVersion[(valueEnd + 1)..];
        }
        if (afterVersion.Length == 0)
        {
            throw new PgProtocolException("the startup parameters are not terminated");
        }
        return result;
    }

    /// <summary>The fields of an ErrorResponse or NoticeResponse payload by their code (S, C, M, D, ...).</summary>
    public static Dictionary<char, string> Fields(ReadOnlySpan<byte> payload)
    {
        var fields = new Dictionary<char, string>();
        while (payload.Length > 1 && payload[0] != 0)
        {
            var code = (char)payload[0];
            var end = payload[1..].IndexOf((byte)0);
            if (end < 0)
            {
                break;
            }
            fields.TryAdd(code, Encoding.UTF8.GetString(payload.Slice(1, end)));
            payload = payload[(end + 2)..];
        }
        return fields;
    }
}

/// <summary>A peer broke the protocol; answered with SQLSTATE 08P01 and the connection closed.</summary>
internal sealed class PgProtocolException(string message) : Exception(message);
