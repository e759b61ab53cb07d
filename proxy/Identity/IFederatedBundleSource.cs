namespace SecretlessProxy.Identity;

/// <summary>
/// Bundles of foreign trust domains that arrive at run time (SPIFFE federation): read at every handshake and laid over
/// the listener's own bundles, so a new or rotated federated bundle applies to the next connection without a reload.
/// </summary>
public interface IFederatedBundleSource
{
    /// <summary>The federated trust domains whose bundle is in hand, and their CAs now.</summary>
    TrustBundleSet Current { get; }
}
