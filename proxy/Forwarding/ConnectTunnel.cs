using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using SecretlessProxy.Audit;
using SecretlessProxy.Listeners;
using SecretlessProxy.Refusals;
using Yarp.ReverseProxy.Configuration;

namespace SecretlessProxy.Forwarding;

/// <summary>
/// The CONNECT front-end of a forward-proxy listener, as a connection middleware (Kestrel does not tunnel CONNECT):
/// a connection that starts with <c>CONNECT </c> has its request head read here (at most 8 KiB, within 10 seconds);
/// a host no route names, or a port no route lists, is answered 403 problem+json and closed; otherwise the proxy
/// answers <c>200 Connection Established</c>, runs a TLS server with a leaf minted for the host from the interception
/// CA (ALPN h2 and http/1.1), and hands the decrypted stream to Kestrel's HTTP layer with the tunnel's authority on
/// <see cref="ITunnelFeature"/>. Every other connection goes to the HTTP layer untouched (absolute-form requests).
/// </summary>
public sealed partial class ConnectTunnel(Func<ConnectionContext, Identity.Attestation> identify, Func<ForwardProxySettings?> settings, Func<IReadOnlyList<RouteConfig>> routes,
    ConnectTunnel.DecideTunnel decide, Action<DecisionRecord> audit, string listener, TimeProvider time, ILogger logger)
{
    /// <summary>
    /// Decides a pass-through tunnel by policy (operation <c>CONNECT</c>, target the authority) and records the decision
    /// on <paramref name="record"/>; null when allowed, else the refusal and its detail.
    /// </summary>
    public delegate ValueTask<(Refusal Refusal, string Detail)?> DecideTunnel(Identity.WorkloadIdentity caller, string route, string authority, DecisionRecord record, CancellationToken cancellationToken);

    /// <summary>How long resolving a pass-through host, and connecting to it, may take.</summary>
    public static readonly TimeSpan UpstreamConnectTimeout = TimeSpan.FromSeconds(5);

    public const int MaxHeadBytes = 8 * 1024;

    public static readonly TimeSpan HeadDeadline = TimeSpan.FromSeconds(10);

    private static readonly byte[] ConnectPrefix = "CONNECT "u8.ToArray();
    private static readonly byte[] EndOfHead = "\r\n\r\n"u8.ToArray();

    public async Task HandleAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(next);
        var input = connection.Transport.Input;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        deadline.CancelAfter(HeadDeadline);
        byte[] head;
        var isConnect = false;
        try
        {
            // Peek: is this a CONNECT? Nothing is consumed until it is.
            while (true)
            {
                var result = await input.ReadAsync(deadline.Token);
                var buffer = result.Buffer;
                var verdict = StartsWithConnect(buffer);
                if (verdict == false || (verdict is null && result.IsCompleted))
                {
                    input.AdvanceTo(buffer.Start);
                    break;
                }
                if (verdict == true)
                {
                    input.AdvanceTo(buffer.Start);
                    isConnect = true;
                    break;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
            head = [];
            // The head, up to its blank line.
            while (isConnect)
            {
                var result = await input.ReadAsync(deadline.Token);
                var buffer = result.Buffer;
                var end = IndexOf(buffer, EndOfHead);
                if (end >= 0 && end + EndOfHead.Length <= MaxHeadBytes)
                {
                    head = buffer.Slice(0, end).ToArray();
                    input.AdvanceTo(buffer.GetPosition(end + EndOfHead.Length));
                    break;
                }
                if (buffer.Length > MaxHeadBytes || end >= 0)
                {
                    input.AdvanceTo(buffer.End);
                    await RefuseAsync(connection, RefusalCatalog.ConnectMalformed, $"the CONNECT request head is longer than {MaxHeadBytes} bytes", null, null);
                    return;
                }
                if (result.IsCompleted)
                {
                    input.AdvanceTo(buffer.End);
                    return;
                }
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionResetException)
        {
            // No complete head within the deadline, or the client went away: close without an answer.
            Log.HeadTimeout(logger, listener, connection.ConnectionId);
            return;
        }
        if (!isConnect)
        {
            // Not a CONNECT: Kestrel's HTTP layer reads the same bytes (absolute-form and origin-form requests).
            await next(connection);
            return;
        }

        if (Parse(head, out var host, out var port, out var authority) is { } malformed)
        {
            await RefuseAsync(connection, RefusalCatalog.ConnectMalformed, malformed, null, null);
            return;
        }
        // Only an attested caller gets a tunnel (its requests inside are attested again, one by one).
        var caller = identify(connection);
        if (caller.Identity is null)
        {
            await RefuseAsync(connection, RefusalCatalog.Get(caller.Reason ?? RefusalCatalog.UnknownLocalCaller.Reason), caller.Detail ?? "the caller could not be attested", authority, null);
            return;
        }
        var forward = settings();
        if (forward is null)
        {
            await RefuseAsync(connection, RefusalCatalog.ForwardHostNotAllowed, "this listener is no longer a forward proxy", authority, caller.Identity);
            return;
        }
        if (ForwardHosts.PassthroughRoute(routes(), host, port) is { } passthrough)
        {
            await PassthroughAsync(connection, passthrough, caller.Identity, host, port, authority);
            return;
        }
        if (!ForwardHosts.AnyRouteNames(routes(), host, port, 443))
        {
            await RefuseAsync(connection, RefusalCatalog.ForwardHostNotAllowed,
                $"no route names {authority} (a route's Match.Hosts lists the hosts, and ports other than 443, the forward proxy serves)", authority, caller.Identity);
            return;
        }

        await connection.Transport.Output.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray());
        var original = connection.Transport;
        var ssl = new SslStream(new DuplexPipeStream(original), leaveInnerStreamOpen: false);
        try
        {
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
            {
                handshake.CancelAfter(HeadDeadline);
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = forward.Ca.LeafFor(host),
                    ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
                    ClientCertificateRequired = false,
                }, handshake.Token);
            }
        }
        catch (Exception ex) when (ex is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
        {
            Log.HandshakeFailed(logger, listener, authority, ex.GetType().Name);
            await ssl.DisposeAsync();
            return;
        }

        Log.TunnelOpened(logger, listener, authority, ssl.NegotiatedApplicationProtocol.ToString());
        var reader = PipeReader.Create(ssl, new StreamPipeReaderOptions(leaveOpen: true));
        var writer = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));
        var tls = new TunnelTlsFeature(ssl);
        connection.Features.Set<ITunnelFeature>(new TunnelFeature(host, port, authority));
        connection.Features.Set<ITlsConnectionFeature>(tls);
        connection.Features.Set<ITlsApplicationProtocolFeature>(tls);
        connection.Transport = new TunnelPipe(reader, writer);
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = original;
            await reader.CompleteAsync();
            await writer.CompleteAsync();
            await ssl.DisposeAsync();
        }
    }

    /// <summary>true: the bytes start with <c>CONNECT </c>; false: they cannot; null: too few bytes to tell.</summary>
    private static bool? StartsWithConnect(ReadOnlySequence<byte> buffer)
    {
        Span<byte> first = stackalloc byte[8];
        var length = (int)Math.Min(buffer.Length, first.Length);
        buffer.Slice(0, length).CopyTo(first);
        if (!first[..length].SequenceEqual(ConnectPrefix.AsSpan(0, length)))
        {
            return false;
        }
        return length == ConnectPrefix.Length ? true : null;
    }

    private static long IndexOf(ReadOnlySequence<byte> buffer, byte[] needle)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> before, needle, advancePastDelimiter: false) ? before.Length : -1;
    }

    /// <summary>Null when <paramref name="head"/> is <c>CONNECT host:port HTTP/1.x</c> and header lines; else what is wrong.</summary>
    internal static string? Parse(ReadOnlySpan<byte> head, out string host, out int port, out string authority)
    {
        host = "";
        port = 0;
        authority = "";
        foreach (var b in head)
        {
            if (b is 0 or >= 0x80 || (b < 0x20 && b is not (byte)'\r' and not (byte)'\n' and not (byte)'\t'))
            {
                return "the CONNECT request head holds bytes that are not HTTP";
            }
        }
        var text = Encoding.ASCII.GetString(head);
        var lines = text.Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || parts[0] != "CONNECT" || parts[2] is not ("HTTP/1.1" or "HTTP/1.0"))
        {
            return "the request line is not 'CONNECT host:port HTTP/1.1'";
        }
        for (var i = 1; i < lines.Length; i++)
        {
            var colon = lines[i].IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || lines[i].AsSpan(0, colon).ContainsAny(" \t\r\n") || lines[i].Contains('\n', StringComparison.Ordinal))
            {
                return "a header line of the CONNECT request is not 'Name: value'";
            }
        }
        var target = parts[1];
        string hostText;
        string portText;
        if (target.StartsWith('['))
        {
            var close = target.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= target.Length || target[close + 1] != ':')
            {
                return "the CONNECT target must be host:port (the port is required)";
            }
            hostText = target[1..close];
            portText = target[(close + 2)..];
            if (Uri.CheckHostName(hostText) != UriHostNameType.IPv6)
            {
                return "the CONNECT target's bracketed host is not an IPv6 address";
            }
        }
        else
        {
            var colon = target.LastIndexOf(':');
            if (colon <= 0)
            {
                return "the CONNECT target must be host:port (the port is required)";
            }
            hostText = target[..colon];
            portText = target[(colon + 1)..];
            if (Uri.CheckHostName(hostText) is not (UriHostNameType.Dns or UriHostNameType.IPv4))
            {
                return "the CONNECT target's host is not a DNS name or an IPv4 address";
            }
        }
        if (portText.Length is 0 or > 5 || !portText.All(char.IsAsciiDigit) || !int.TryParse(portText, System.Globalization.CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            port = 0;
            return "the CONNECT target's port is not a number from 1 to 65535";
        }
        host = hostText.ToLowerInvariant();
        authority = target.StartsWith('[') ? $"[{host}]:{port}" : $"{host}:{port}";
        return null;
    }

    private DecisionRecord NewRecord(ConnectionContext connection, Identity.WorkloadIdentity? identity) => new()
    {
        StartedAt = System.Diagnostics.Stopwatch.GetTimestamp(),
        Time = time.GetUtcNow(),
        RequestId = connection.ConnectionId,
        Listener = listener,
        Method = "CONNECT",
        Caller = identity,
    };

    private async Task RefuseAsync(ConnectionContext connection, Refusal refusal, string detail, string? authority, Identity.WorkloadIdentity? identity, DecisionRecord? record = null)
    {
        record ??= NewRecord(connection, identity);
        record.Status = refusal.Status;
        ((IRefusalSink)record).Refused(refusal);
        Log.ConnectRefused(logger, listener, authority ?? "(unparsed)", refusal.Reason);
        var body = Problem.Body(refusal, detail, connection.ConnectionId, identity?.SpiffeId.Value);
        var status = refusal.Status switch
        {
            401 => "401 Unauthorized",
            403 => "403 Forbidden",
            502 => "502 Bad Gateway",
            503 => "503 Service Unavailable",
            504 => "504 Gateway Timeout",
            _ => "400 Bad Request",
        };
        var answer = Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: application/problem+json\r\nCache-Control: no-store\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
        try
        {
            await connection.Transport.Output.WriteAsync(answer);
            await connection.Transport.Output.WriteAsync(body);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException)
        {
            // The client is gone; the refusal is still audited.
        }
        record.CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        audit(record);
    }

    /// <summary>
    /// An opaque tunnel for a route that allows one: decided by policy as <c>CONNECT</c>; the host resolved once, each
    /// address checked (loopback, link-local and instance-metadata addresses only when the route names that exact
    /// address), the first address that accepts connected to as resolved; then bytes both ways, nothing read,
    /// nothing injected. One record per tunnel, written when it closes, with the bytes each way.
    /// </summary>
    private async Task PassthroughAsync(ConnectionContext connection, RouteConfig route, Identity.WorkloadIdentity caller, string host, int port, string authority)
    {
        var record = NewRecord(connection, caller);
        record.Route = route.RouteId;
        record.Protocol = DecisionRecord.TunnelProtocol;
        record.PathTemplate = authority;
        if (await decide(caller, route.RouteId, authority, record, connection.ConnectionClosed) is { } refused)
        {
            await RefuseAsync(connection, refused.Refusal, refused.Detail, authority, caller, record);
            return;
        }
        System.Net.IPAddress[] addresses;
        using (var resolving = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            resolving.CancelAfter(UpstreamConnectTimeout);
            try
            {
                addresses = System.Net.IPAddress.TryParse(host, out var literal) ? [literal] : await System.Net.Dns.GetHostAddressesAsync(host, resolving.Token);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException)
            {
                await RefuseAsync(connection, RefusalCatalog.UpstreamUnavailable, $"the host name {host} could not be resolved", authority, caller, record);
                return;
            }
        }
        var allowed = addresses.Where(a => SensitiveAddresses.Kind(a) is null || ForwardHosts.NamesAddress(route, a)).ToList();
        if (allowed.Count == 0)
        {
            var first = addresses.FirstOrDefault();
            await RefuseAsync(connection, RefusalCatalog.ForwardAddressNotAllowed, first is null
                ? $"{host} resolves to no address"
                : $"{host} resolves to {first} ({SensitiveAddresses.Kind(first)}); the proxy tunnels to such an address only when a route names that exact address in Match.Hosts",
                authority, caller, record);
            return;
        }
        var upstream = await ConnectAsync(allowed, port, connection.ConnectionClosed);
        if (upstream is null)
        {
            await RefuseAsync(connection, RefusalCatalog.UpstreamUnavailable, $"{authority} did not accept a connection within {UpstreamConnectTimeout.TotalSeconds:0} s", authority, caller, record);
            return;
        }
        await using var stream = new System.Net.Sockets.NetworkStream(upstream, ownsSocket: true);
        var upstreamIn = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        var upstreamOut = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        record.Status = 200;
        record.Outcome = DecisionRecord.Allow;
        Log.PassthroughOpened(logger, listener, authority, route.RouteId);
        try
        {
            await connection.Transport.Output.WriteAsync("HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray());
            var (up, down) = await DuplexRelay.RunAsync(connection.Transport.Input, connection.Transport.Output, upstreamIn, upstreamOut, connection.ConnectionClosed);
            record.BytesUp = up;
            record.BytesDown = down;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ConnectionResetException)
        {
            // The client went away before the tunnel opened.
        }
        finally
        {
            await upstreamIn.CompleteAsync();
            await upstreamOut.CompleteAsync();
            record.CompletedAt = System.Diagnostics.Stopwatch.GetTimestamp();
            audit(record);
        }
    }

    private static async Task<System.Net.Sockets.Socket?> ConnectAsync(List<System.Net.IPAddress> addresses, int port, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(UpstreamConnectTimeout);
        foreach (var address in addresses)
        {
            var socket = new System.Net.Sockets.Socket(address.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new System.Net.IPEndPoint(address, port), deadline.Token);
                return socket;
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or OperationCanceledException)
            {
                socket.Dispose();
                if (deadline.IsCancellationRequested)
                {
                    return null;
                }
            }
        }
        return null;
    }

    private sealed class TunnelPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "CONNECT on listener {Listener} to {Authority} refused: {Reason}")]
        public static partial void ConnectRefused(ILogger logger, string listener, string authority, string reason);

        [LoggerMessage(EventId = 1502, Level = LogLevel.Debug, Message = "Tunnel on listener {Listener} to {Authority} intercepted ({Alpn})")]
        public static partial void TunnelOpened(ILogger logger, string listener, string authority, string alpn);

        [LoggerMessage(EventId = 1503, Level = LogLevel.Information, Message = "TLS handshake in a tunnel on listener {Listener} to {Authority} failed: {ExceptionType}")]
        public static partial void HandshakeFailed(ILogger logger, string listener, string authority, string exceptionType);

        [LoggerMessage(EventId = 1505, Level = LogLevel.Debug, Message = "Pass-through tunnel on listener {Listener} to {Authority} opened (route {Route})")]
        public static partial void PassthroughOpened(ILogger logger, string listener, string authority, string route);

        [LoggerMessage(EventId = 1504, Level = LogLevel.Debug, Message = "CONNECT request head on listener {Listener} (connection {ConnectionId}) incomplete within the deadline; closed")]
        public static partial void HeadTimeout(ILogger logger, string listener, string connectionId);
    }
}
