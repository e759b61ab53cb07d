using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Connections;

namespace SecretlessProxy.MySql;

/// <summary>
/// A logged-in session's relay: the upstream's bytes go to the client as they come; the client's packets go upstream
/// verbatim (sequence ids and all), framed only to see where each command starts. Three commands are looked at:
/// <c>KILL [QUERY] id</c> (as COM_QUERY or COM_PROCESS_KILL) naming a gateway connection id becomes the same KILL of
/// that session's upstream thread when the caller is the same workload (else an ERR, and nothing goes upstream), and
/// COM_CHANGE_USER is refused (it would log in anew with a password the gateway does not hold). COM_QUIT passes, the
/// upstream closes, and so does the client's side.
/// </summary>
internal sealed class MySqlRelay(PipeReader clientIn, PipeWriter clientOut, MySqlUpstream upstream, MySqlSession session, MySqlSessions sessions)
{
    private const int InspectLimit = 1024;
    private readonly SemaphoreSlim _clientWrites = new(1, 1);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var upstreamIn = PipeReader.Create(upstream.Stream, new StreamPipeReaderOptions(leaveOpen: true, bufferSize: 64 * 1024));
        var upstreamOut = PipeWriter.Create(upstream.Stream, new StreamPipeWriterOptions(leaveOpen: true));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var up = Guard(() => ClientToUpstreamAsync(upstreamOut, stop.Token));
        var down = Guard(() => UpstreamToClientAsync(upstreamIn, stop.Token));
        await Task.WhenAny(up, down);
        await stop.CancelAsync();
        await Task.WhenAll(up, down);
        await upstreamIn.CompleteAsync();
        await upstreamOut.CompleteAsync();
    }

    private static async Task Guard(Func<Task> pump)
    {
        try
        {
            await pump();
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionResetException or ObjectDisposedException or InvalidOperationException)
        {
            // One side went away; the session ends.
        }
    }

    private async Task UpstreamToClientAsync(PipeReader from, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await from.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            bool completed;
            await _clientWrites.WaitAsync(cancellationToken);
            try
            {
                foreach (var segment in buffer)
                {
                    clientOut.Write(segment.Span);
                }
                from.AdvanceTo(buffer.End);
                completed = (await clientOut.FlushAsync(cancellationToken)).IsCompleted;
            }
            finally
            {
                _clientWrites.Release();
            }
            if (result.IsCompleted || completed)
            {
                return;
            }
        }
    }

    private async Task ClientToUpstreamAsync(PipeWriter to, CancellationToken cancellationToken)
    {
        long passing = 0;   // payload bytes of the current frame still to pass on
        long skipping = 0;  // payload bytes of a refused command still to drop
        var header = new byte[4];
        while (true)
        {
            var result = await clientIn.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            var wrote = false;
            while (true)
            {
                if (passing > 0 || skipping > 0)
                {
                    var take = Math.Min(passing + skipping, buffer.Length);
                    if (take == 0)
                    {
                        break;
                    }
                    if (passing > 0)
                    {
                        foreach (var segment in buffer.Slice(0, take))
                        {
                            to.Write(segment.Span);
                        }
                        wrote = true;
                        passing -= take;
                    }
                    else
                    {
                        skipping -= take;
                    }
                    buffer = buffer.Slice(take);
                    continue;
                }
                if (buffer.Length < 4)
                {
                    break;
                }
                buffer.Slice(0, 4).CopyTo(header);
                var length = header[0] | (header[1] << 8) | (header[2] << 16);
                var sequence = header[3];
                // A command's first packet (sequence 0) is looked at by its first byte; any other packet (a continuation,
                // LOCAL INFILE data, an empty final frame) passes at once.
                if (sequence == 0 && length > 0 && buffer.Length < 5)
                {
                    break;
                }
                var command = sequence == 0 && length > 0 ? buffer.Slice(4, 1).FirstSpan[0] : (byte)0xFF;
                if (sequence == 0 && command == MySqlWire.ComChangeUser)
                {
                    await AnswerAsync(MySqlWire.Err(1227, "42000", "COM_CHANGE_USER is not supported through the gateway: it logs in for you; open a new connection instead"), cancellationToken);
                    buffer = buffer.Slice(4);
                    skipping = length;
                    continue;
                }
                if (sequence == 0 && length <= InspectLimit && command is MySqlWire.ComQuery or MySqlWire.ComProcessKill)
                {
                    if (buffer.Length < 4 + length)
                    {
                        break;
                    }
                    var payload = buffer.Slice(4, length).ToArray();
                    buffer = buffer.Slice(4 + length);
                    var (replacement, answer) = Inspect(payload);
                    if (answer is not null)
                    {
                        await AnswerAsync(answer, cancellationToken);
                    }
                    else
                    {
                        to.Write(MySqlWire.Packet(0, replacement ?? payload));
                        wrote = true;
                    }
                    continue;
                }
                foreach (var segment in buffer.Slice(0, 4))
                {
                    to.Write(segment.Span);
                }
                wrote = true;
                buffer = buffer.Slice(4);
                passing = length;
            }
            clientIn.AdvanceTo(buffer.Start, buffer.End);
            if (wrote && (await to.FlushAsync(cancellationToken)).IsCompleted)
            {
                return;
            }
            if (result.IsCompleted)
            {
                return;
            }
        }
    }

    /// <summary>For a KILL naming a gateway id: the upstream statement (replacement), or the ERR the client gets (answer). Neither: pass as it is.</summary>
    private (byte[]? Replacement, byte[]? Answer) Inspect(byte[] payload)
    {
        uint target;
        KillStatement? kill = null;
        if (payload[0] == MySqlWire.ComProcessKill)
        {
            if (payload.Length != 5)
            {
                return (null, null);
            }
            target = BinaryPrimitives.ReadUInt32LittleEndian(payload.AsSpan(1));
        }
        else
        {
            // Most statements are not KILL: look at the first letter before decoding anything.
            var first = payload.AsSpan(1).IndexOfAnyExcept(" \t\r\n"u8);
            if (first < 0 || (payload[1 + first] | 0x20) != 'k')
            {
                return (null, null);
            }
            string sql;
            try
            {
                sql = new UTF8Encoding(false, true).GetString(payload, 1, payload.Length - 1);
            }
            catch (DecoderFallbackException)
            {
                return (null, null);
            }
            kill = KillStatement.Parse(sql);
            if (kill is null)
            {
                return (null, null);
            }
            target = kill.Id;
        }
        var found = sessions.Find(target);
        if (found is null)
        {
            return (null, MySqlWire.Err(1094, "HY000", $"Unknown thread id: {target}"));
        }
        if (!string.Equals(found.Identity, session.Identity, StringComparison.Ordinal))
        {
            return (null, MySqlWire.Err(1095, "HY000", $"You are not owner of thread {target}: it belongs to another workload"));
        }
        if (found.Database is not { } db || session.Database is not { } mine || db.Host != mine.Host || db.Port != mine.Port)
        {
            return (null, MySqlWire.Err(1095, "HY000", $"thread {target} is on another upstream server than this connection; kill it through a connection to database \"{found.Database?.Name}\""));
        }
        var upstreamThread = found.Upstream!.Value;
        if (kill is null)
        {
            var translated = new byte[5];
            translated[0] = MySqlWire.ComProcessKill;
            BinaryPrimitives.WriteUInt32LittleEndian(translated.AsSpan(1), upstreamThread);
            return (translated, null);
        }
        var statement = Encoding.ASCII.GetBytes(kill.WithId(upstreamThread));
        return ([MySqlWire.ComQuery, .. statement], null);
    }

    private async Task AnswerAsync(byte[] err, CancellationToken cancellationToken)
    {
        await _clientWrites.WaitAsync(cancellationToken);
        try
        {
            await clientOut.WriteAsync(MySqlWire.Packet(1, err), cancellationToken);
        }
        finally
        {
            _clientWrites.Release();
        }
    }
}
