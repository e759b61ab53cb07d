using System.Text;
using SecretlessProxy.Databases;

namespace SecretlessProxy.MySql;

/// <summary>
/// A session of the gateway's own on a MySQL/MariaDB upstream (the <c>mysql-dynamic</c> admin connection): logged in
/// with <see cref="MySqlUpstreamLogin"/> like any gateway login (TLS per <c>sslmode</c>, the configured weakest
/// <c>auth</c>), then COM_QUERY statements (several per query allowed), each read to its last result. Text rows only.
/// </summary>
internal sealed class MySqlQuerySession : IAsyncDisposable
{
    /// <summary>The bound on one packet of an answer (a row, an error).</summary>
    public const int MaxPacket = 1 << 20;

    private const uint Flags = MySqlWire.Protocol41 | MySqlWire.Transactions | MySqlWire.MultiStatements | MySqlWire.MultiResults;

    private readonly MySqlUpstream _connection;

    private MySqlQuerySession(MySqlUpstream connection) => _connection = connection;

    public string ServerVersion => _connection.Greeting.ServerVersion;

    public bool IsMariaDb => ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);

    public static async Task<MySqlQuerySession> OpenAsync(DatabaseSettings db, string user, string password, CancellationToken cancellationToken) =>
        new(await MySqlUpstreamLogin.LoginAsync(db, new MySqlUpstreamLogin.Request(user, db.UpstreamDatabase, Flags, MaxPacket, MySqlWire.DefaultCollation,
            [new("program_name", "secretless-proxy")]), password, cancellationToken));

    /// <summary>Runs <paramref name="sql"/>; the rows of every result, or throws <see cref="MySqlServerException"/> at the first error.</summary>
    public async Task<List<string?[]>> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        var stream = _connection.Stream;
        await stream.WriteAsync(MySqlWire.Packet(0, [MySqlWire.ComQuery, .. Encoding.UTF8.GetBytes(sql)]), cancellationToken);
        await stream.FlushAsync(cancellationToken);
        var rows = new List<string?[]>();
        while (true)
        {
            var (_, first) = await MySqlWire.ReadPacketAsync(stream, MaxPacket, cancellationToken);
            ushort status;
            switch (first.Length > 0 ? first[0] : -1)
            {
                case MySqlWire.OkHeader:
                    var ok = new PayloadReader(first.AsSpan(1));
                    ok.LengthEncoded();
                    ok.LengthEncoded();
                    status = ok.UInt16();
                    break;
                case MySqlWire.ErrHeader:
                    var (code, state, message) = MySqlWire.ParseErr(first);
                    throw new MySqlServerException(code, state, message);
                case 0xFB:
                    throw new MySqlProtocolException("the server asked for a LOCAL INFILE");
                default:
                    var columns = (int)Math.Min(new PayloadReader(first).LengthEncoded(), 4096);
                    for (var i = 0; i < columns; i++)
                    {
                        await MySqlWire.ReadPacketAsync(stream, MaxPacket, cancellationToken);
                    }
                    await MySqlWire.ReadPacketAsync(stream, MaxPacket, cancellationToken);
                    while (true)
                    {
                        var (_, row) = await MySqlWire.ReadPacketAsync(stream, MaxPacket, cancellationToken);
                        if (row.Length > 0 && row[0] == MySqlWire.ErrHeader)
                        {
                            var (rowCode, rowState, rowMessage) = MySqlWire.ParseErr(row);
                            throw new MySqlServerException(rowCode, rowState, rowMessage);
                        }
                        if (row.Length is > 0 and < 9 && row[0] == MySqlWire.EofHeader)
                        {
                            var eof = new PayloadReader(row.AsSpan(1));
                            eof.UInt16();
                            status = eof.UInt16();
                            break;
                        }
                        rows.Add(Row(row, columns));
                    }
                    break;
            }
            if ((status & MySqlWire.StatusMoreResults) == 0)
            {
                return rows;
            }
        }
    }

    private static string?[] Row(byte[] payload, int columns)
    {
        var reader = new PayloadReader(payload);
        var values = new string?[columns];
        for (var i = 0; i < columns && reader.Remaining > 0; i++)
        {
            if (payload[payload.Length - reader.Remaining] == 0xFB)
            {
                reader.Byte();
                values[i] = null;
                continue;
            }
            values[i] = Encoding.UTF8.GetString(reader.LengthEncodedBytes());
        }
        return values;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var quit = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _connection.Stream.WriteAsync(MySqlWire.Packet(0, [MySqlWire.ComQuit]), quit.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Closing anyway.
        }
        await _connection.DisposeAsync();
    }
}

/// <summary>An ERR the server answered a statement with.</summary>
internal sealed class MySqlServerException(ushort code, string sqlState, string message) : Exception($"{message} ({code}/{sqlState})")
{
    public ushort Code { get; } = code;

    public string SqlState { get; } = sqlState;
}
