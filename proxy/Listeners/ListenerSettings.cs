using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using SecretlessProxy.Identity;

namespace SecretlessProxy.Listeners;

/// <summary>A compiled <c>listeners[i]</c> entry, with its TLS material loaded.</summary>
public sealed class ListenerSettings
{
    public required string Name { get; init; }

    public required ListenerRole Role { get; init; }

    public required string Url { get; init; }

    /// <summary>The address to bind; null for 'localhost' (both loopbacks) and Unix sockets.</summary>
    public required IPAddress? Address { get; init; }

    public required int Port { get; init; }

    public required bool IsHttps { get; init; }

    /// <summary>What the listener speaks: HTTP (the reverse proxy) or the PostgreSQL wire protocol (the database gateway).</summary>
    public ListenerProtocol Protocol { get; init; } = ListenerProtocol.Http;

    /// <summary>The socket file of a <c>unix:</c> listener (absolute); null for TCP listeners.</summary>
    public string? UnixSocketPath { get; init; }

    /// <summary>The socket file's mode, owner and group.</summary>
    public UnixSocketSettings Socket { get; init; } = UnixSocketSettings.Default;

    public required HttpProtocols Protocols { get; init; }

    /// <summary>True when the config asked for HTTP/3 (served only where QUIC is available).</summary>
    public required bool Http3Requested { get; init; }

    /// <summary>Certificate and bundles for an HTTPS listener.</summary>
    public TlsMaterial? Tls { get; init; }

    /// <summary>The SPIFFE IDs that may use an https admin listener (null otherwise).</summary>
    public IReadOnlyList<SpiffeIdPattern>? AdminAllow { get; init; }

    /// <summary>Who may use an admin listener on a Unix socket (null otherwise).</summary>
    public IReadOnlyList<UnixAdminRule>? AdminUnixAllow { get; init; }

    /// <summary>The web console of an admin listener (<c>console: read-write | read-only | off</c>).</summary>
    public ConsoleMode Console { get; init; } = ConsoleMode.ReadWrite;

    /// <summary>A plain loopback admin listener that serves everything to every local process (unsafe; warned at start).</summary>
    public bool UnsafeOpenLoopback { get; init; }

    /// <summary>The identity every caller of a plain-HTTP loopback proxy listener is (<c>identity:</c>), or null.</summary>
    public string? IdentityName { get; init; }

    /// <summary>Forward-proxy mode (absolute-form requests, CONNECT with TLS interception), or null.</summary>
    public ForwardProxySettings? ForwardProxy { get; init; }

    /// <summary>The bearer tokens callers may present (<c>bearer:</c>), or null: a token in the header names the caller instead of the connection.</summary>
    public Identity.Bearer.BearerSettings? Bearer { get; init; }

    /// <summary>
    /// How the connections of this listener are attested: mTLS, Unix peer credentials, or the loopback bind; a plain
    /// loopback listener with only <see cref="Bearer"/> attests per request; null for a plain admin listener.
    /// </summary>
    public AttestationKind? Attestor => IsHttps || (Protocol != ListenerProtocol.Http && Tls is not null) ? AttestationKind.X509Svid
        : UnixSocketPath is not null ? AttestationKind.UnixPeer
        : IdentityName is not null ? AttestationKind.Loopback
        : Bearer is not null ? AttestationKind.Jwt : null;

    /// <summary>What must not change without a restart (address, port, scheme, protocols, role).</summary>
    public string BindingKey => $"{Role}|{Url}|{Protocols}|{Http3Requested}|{ForwardProxy is not null}";
}

/// <summary>The wire protocol of a listener.</summary>
public enum ListenerProtocol
{
    Http,
    Postgres,

    /// <summary>The MySQL client/server protocol (MySQL and MariaDB clients).</summary>
    MySql,
}

/// <summary>A Unix socket file's mode and ownership (null: leave as created).</summary>
public sealed record UnixSocketSettings(UnixFileMode? Mode, int OwnerUid, int GroupGid)
{
    public static readonly UnixSocketSettings Default = new(null, -1, -1);
}

/// <summary>An entry of a Unix admin socket's <c>allow</c>: a uid, or a group (primary or supplementary) of the caller.</summary>
public sealed record UnixAdminRule(uint? Uid, uint? Gid)
{
    public bool Matches(Identity.Unix.PeerProcess peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return (Uid is null || peer.Uid == Uid) && (Gid is null || peer.InGroup(Gid.Value));
    }

    public override string ToString() => Uid is not null && Gid is not null ? $"uid {Uid} in gid {Gid}" : Uid is not null ? $"uid {Uid}" : $"gid {Gid}";
}
