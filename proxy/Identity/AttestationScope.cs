namespace SecretlessProxy.Identity;

/// <summary>
/// What a connection's attestation is confirmed against for one request: the request's config snapshot (compared by
/// reference, so the work is done once per reload), the time, and the parts of that config attestors read.
/// </summary>
public readonly struct AttestationScope(object config, DateTimeOffset now, TrustBundleSet? bundles, LocalIdentityMap identities, LocalIdentity? listenerIdentity)
{
    public object Config { get; } = config;

    public DateTimeOffset Now { get; } = now;

    /// <summary>The listener's trust bundles (mTLS listeners).</summary>
    public TrustBundleSet? Bundles { get; } = bundles;

    /// <summary>The config's local identities (Unix socket peers).</summary>
    public LocalIdentityMap Identities { get; } = identities;

    /// <summary>The identity a loopback listener is bound to.</summary>
    public LocalIdentity? ListenerIdentity { get; } = listenerIdentity;
}
