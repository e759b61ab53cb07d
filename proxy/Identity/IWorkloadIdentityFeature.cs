
namespace SecretlessProxy.Identity;

/// <summary>
/// The caller's verified identity, computed once at the TLS handshake and kept on the connection's features.
/// Every request on the connection reads it; nothing re-parses the certificate.
/// </summary>
public interface IWorkloadIdentityFeature
{
    SvidVerification Verification { get; }
}
