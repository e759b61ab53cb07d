using System.Net;
using System.Net.Sockets;

namespace SecretlessProxy.Forwarding;

/// <summary>
/// Addresses a forward proxy never tunnels to unless a route names that exact address: the proxy host itself
/// (loopback, unspecified), link-local networks, and the cloud instance-metadata endpoints (which hand out the
/// host's own credentials). Checked on the address a tunnel's host name resolved to, once, and connected to as
/// resolved, so DNS cannot change the answer between the check and the connect.
/// </summary>
public static class SensitiveAddresses
{
    private static readonly IPAddress AwsMetadataV6 = IPAddress.Parse("fd00:ec2::254");
    private static readonly IPNetwork LinkLocalV4 = IPNetwork.Parse("169.254.0.0/16");
    private static readonly IPNetwork LinkLocalV6 = IPNetwork.Parse("fe80::/10");
    private static readonly IPNetwork ThisNetworkV4 = IPNetwork.Parse("0.0.0.0/8");

    /// <summary>What kind of sensitive address this is ("loopback", "link-local", "instance metadata"), or null for an ordinary one.</summary>
    public static string? Kind(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.Equals(AwsMetadataV6) || address.Equals(IPAddress.Parse("169.254.169.254")))
        {
            return "instance metadata";
        }
        if (IPAddress.IsLoopback(address))
        {
            return "loopback";
        }
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || (address.AddressFamily == AddressFamily.InterNetwork && ThisNetworkV4.Contains(address)))
        {
            return "unspecified";
        }
        if ((address.AddressFamily == AddressFamily.InterNetwork && LinkLocalV4.Contains(address))
            || (address.AddressFamily == AddressFamily.InterNetworkV6 && (LinkLocalV6.Contains(address) || address.IsIPv6LinkLocal)))
        {
            return "link-local";
        }
        return null;
    }
}
