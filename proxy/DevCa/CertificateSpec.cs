using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.DevCa;

/// <summary>What to put in a certificate. URIs are written to the SAN exactly as given (no normalisation).</summary>
public sealed record CertificateSpec
{
    public string Subject { get; init; } = "CN=secretless-dev";

    public IReadOnlyList<string> Uris { get; init; } = [];

    public IReadOnlyList<string> DnsNames { get; init; } = [];

    public IReadOnlyList<IPAddress> IpAddresses { get; init; } = [];

    public bool IsCa { get; init; }

    /// <summary>Null leaves the key usage extension out.</summary>
    public X509KeyUsageFlags? KeyUsage { get; init; } = X509KeyUsageFlags.DigitalSignature;

    /// <summary>Extended key usage OIDs; null leaves the extension out.</summary>
    public IReadOnlyList<string>? ExtendedKeyUsages { get; init; } = [ClientAuth];

    public required DateTimeOffset NotBefore { get; init; }

    public required DateTimeOffset NotAfter { get; init; }

    public const string ClientAuth = "1.3.6.1.5.5.7.3.2";
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1";
}
