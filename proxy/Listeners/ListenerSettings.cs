using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace SecretlessProxy.Listeners;

/// <summary>A compiled <c>listeners[i]</c> entry, with its TLS material loaded.</summary>
public sealed class ListenerSettings
{
    public required string Name { get; init; }

    public required ListenerRole Role { get; init; }

    public required string Url { get; init; }

    /// <summary>The address to bind; null for 'localhost' (both loopbacks).</summary>
    public required IPAddress? Address { get; init; }

    public required int Port { get; init; }

    public required bool IsHttps { get; init; }

    public required HttpProtocols Protocols { get; init; }

    /// <summary>True when the config asked for HTTP/3 (served only where QUIC is available).</summary>
    public required bool Http3Requested { get; init; }

    /// <summary>Certificate and bundles for an HTTPS listener.</summary>
    public TlsMaterial? Tls { get; init; }

    /// <summary>The SPIFFE IDs that may use an https admin listener (null: a loopback http admin listener).</summary>
    public IReadOnlyList<Identity.SpiffeIdPattern>? AdminAllow { get; init; }

    /// <summary>What must not change without a restart (address, port, scheme, protocols, role).</summary>
    public string BindingKey => $"{Role}|{Url}|{Protocols}|{Http3Requested}";
}
