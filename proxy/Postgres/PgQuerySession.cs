using SecretlessProxy.Databases;

namespace SecretlessProxy.Postgres;

/// <summary>
/// A session of the gateway's own on an upstream database (the <c>postgres-dynamic</c> admin connection): logged in
/// with <see cref="UpstreamLogin"/> like any gateway login (TLS per <c>sslmode</c>, the configured weakest
/// <c>auth</c>), then simple queries ('Q'), each read up to its <c>ReadyForQuery</c>. Text results only; a COPY the
/// server starts is declined. Not Npgsql: the proxy speaks the protocol itself, as it does for logins.
/// </summary>
internal sealed class PgQuerySession : IAsyncDisposable
{
    /// <summary>The bound on one message of an answer (a row, an error).</summary>
    public const int MaxMessageLength = 1 << 20;

    private readonly UpstreamConnection _connection;
    private bool _broken;

    private PgQuerySession(UpstreamConnection connection) => _connection = connection;

    /// <summary>Logs in to <paramref name="db"/> as <paramref name="user"/>; throws <see cref="UpstreamException"/> as a gateway login does.</summary>
    public static async Task<PgQuerySession> OpenAsync(DatabaseSettings db, string user, string password, IEnumerable<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken) =>
        new(await UpstreamLogin.LoginAsync(db, user, password, parameters, cancellationToken));

    /// <summary>
    /// Runs <paramref name="sql"/> (one statement or several, as psql -c sends them) and returns its rows, command tags and
    /// the error that stopped it, if any. Throws <see cref="IOException"/> or <see cref="PgProtocolException"/> when the
    /// connection fails.
    /// </summary>
    public async Task<PgQueryResult> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        if (_broken)
        {
            throw new InvalidOperationException("the session broke off in an earlier query");
        }
        _broken = true;
        await _connection.Writer.WriteAsync(PgWire.Query(sql), cancellationToken);
        var rows = new List<string?[]>();
        var tags = new List<string>();
        var notices = new List<PgServerError>();
        PgServerError? error = null;
        while (true)
        {
            var (type, payload) = await PgWire.ReadMessageAsync(_connection.Reader, MaxMessageLength, cancellationToken);
            switch (type)
            {
                case PgWire.DataRowType:
                    rows.Add(PgWire.DataRow(payload));
                    break;
                case PgWire.CommandComplete:
                    tags.Add(PgWire.Text(payload));
                    break;
                case PgWire.ErrorResponseType:
                    error ??= PgServerError.From(payload);
                    break;
                case PgWire.NoticeResponse:
                    notices.Add(PgServerError.From(payload));
                    break;
                case PgWire.CopyInResponse:
                    await _connection.Writer.WriteAsync(PgWire.CopyFail("COPY FROM STDIN is not supported by the gateway"), cancellationToken);
                    break;
                case PgWire.RowDescription or PgWire.EmptyQueryResponse or PgWire.ParameterStatus or PgWire.NotificationResponse
                    or PgWire.CopyOutResponse or PgWire.CopyData or PgWire.CopyDone:
                    break;
                case PgWire.ReadyForQuery:
                    _broken = false;
                    return new PgQueryResult(rows, tags, error, notices, payload.Length > 0 ? (char)payload[0] : 'I');
                default:
                    throw new PgProtocolException($"the server sent a '{(char)type}' message in answer to a query");
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="sql"/> in one transaction: <c>BEGIN</c>, the statements, <c>COMMIT</c>; when the server
    /// refuses any of them, <c>ROLLBACK</c> and a <see cref="PgServerException"/> with its error. With
    /// <paramref name="advisoryLock"/>, the transaction first takes that transaction-level advisory lock, so
    /// transactions taking the same key run one at a time on the server (whichever session or replica sends them).
    /// </summary>
    public async Task<PgQueryResult> RunInTransactionAsync(string sql, long? advisoryLock, CancellationToken cancellationToken)
    {
        await BeginAsync(advisoryLock, cancellationToken);
        var result = await InTransactionAsync(sql, cancellationToken);
        await CommitAsync(cancellationToken);
        return result;
    }

    /// <summary><c>BEGIN</c>, then the advisory lock when given (see <see cref="RunInTransactionAsync"/>).</summary>
    public async Task BeginAsync(long? advisoryLock, CancellationToken cancellationToken)
    {
        var begin = await QueryAsync(advisoryLock is { } key ? $"BEGIN; SELECT pg_advisory_xact_lock({key.ToString(System.Globalization.CultureInfo.InvariantCulture)})" : "BEGIN", cancellationToken);
        if (begin.Error is { } refused)
        {
            await QueryAsync("ROLLBACK", cancellationToken);
            throw new PgServerException(refused);
        }
    }

    /// <summary>A query inside a transaction begun with <see cref="BeginAsync"/>: when the server refuses it, <c>ROLLBACK</c> and a <see cref="PgServerException"/>.</summary>
    public async Task<PgQueryResult> InTransactionAsync(string sql, CancellationToken cancellationToken)
    {
        var result = await QueryAsync(sql, cancellationToken);
        if (result.Error is { } error)
        {
            await QueryAsync("ROLLBACK", cancellationToken);
            throw new PgServerException(error);
        }
        return result;
    }

    public async Task RollbackAsync(CancellationToken cancellationToken) => await QueryAsync("ROLLBACK", cancellationToken);

    /// <summary><c>COMMIT</c>; a <see cref="PgServerException"/> when the transaction was not committed.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        var commit = await QueryAsync("COMMIT", cancellationToken);
        if (commit.Error is { } failed)
        {
            throw new PgServerException(failed);
        }
        // COMMIT of a transaction that failed (or that the SQL itself ended) is answered ROLLBACK, or warns of no transaction.
        if (commit.Tags is not ["COMMIT"])
        {
            throw new PgServerException(new PgServerError("40000", "the transaction was not committed (" + string.Join(", ", commit.Tags) + ")", null, "ERROR"));
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_broken)
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _connection.Writer.WriteAsync(PgWire.Terminate(), deadline.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            // The server is gone already.
        }
        await _connection.DisposeAsync();
    }
}

/// <summary>What one simple query gave: the rows (text columns), the command tags, the error that stopped it and the notices, and the transaction status after it (I, T or E).</summary>
internal sealed record PgQueryResult(IReadOnlyList<string?[]> Rows, IReadOnlyList<string> Tags, PgServerError? Error, IReadOnlyList<PgServerError> Notices, char TransactionStatus);

/// <summary>The fields of an ErrorResponse or NoticeResponse the gateway uses.</summary>
internal sealed record PgServerError(string SqlState, string Message, string? Detail, string Severity)
{
    public static PgServerError From(ReadOnlySpan<byte> payload)
    {
        var fields = PgWire.Fields(payload);
        return new PgServerError(fields.GetValueOrDefault('C') ?? "XX000", fields.GetValueOrDefault('M') ?? "(no message)", fields.GetValueOrDefault('D'),
            fields.GetValueOrDefault('V') ?? fields.GetValueOrDefault('S') ?? "ERROR");
    }

    public override string ToString() => $"{SqlState}: {Message}";
}

/// <summary>The server refused a statement (its ErrorResponse).</summary>
internal sealed class PgServerException(PgServerError error) : Exception(error.ToString())
{
    public PgServerError Error { get; } = error;
}
