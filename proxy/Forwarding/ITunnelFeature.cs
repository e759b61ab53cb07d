namespace SecretlessProxy.Forwarding;

/// <summary>
/// On a connection that arrived through a CONNECT tunnel: the authority the client asked for. Requests inside the
/// tunnel are routed, decided and injected for this host and port only.
/// </summary>
public interface ITunnelFeature
{
    /// <summary>The host, lower case (an IPv6 address without brackets).</summary>
    string Host { get; }

    int Port { get; }

    /// <summary><c>host:port</c> as the CONNECT line named it (IPv6 in brackets).</summary>
    string Authority { get; }
}

internal sealed record TunnelFeature(string Host, int Port, string Authority) : ITunnelFeature;

/// <summary>On a request of a forward-proxy listener that asks for a host (absolute-form or in a tunnel): that host and port, for the route check.</summary>
public sealed record ForwardTarget(string Host, int Port, int DefaultPort);
