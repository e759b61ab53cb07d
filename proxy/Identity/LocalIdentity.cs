using SecretlessProxy.Identity.Unix;

namespace SecretlessProxy.Identity;

/// <summary>
/// A named entry of <c>identities</c> with an exact SPIFFE ID, which local callers can be: a Unix socket peer whose
/// kernel facts match its <see cref="Unix"/> selectors, or every caller of a loopback listener bound to it.
/// </summary>
public sealed class LocalIdentity(string name, SpiffeId spiffeId, UnixSelectors? unix)
{
    public string Name { get; } = name;

    public SpiffeId SpiffeId { get; } = spiffeId;

    /// <summary>Null when the identity is not for Unix socket peers.</summary>
    public UnixSelectors? Unix { get; } = unix;

    /// <summary>The identity of a loopback listener's callers (one object per config; nothing expires).</summary>
    public WorkloadIdentity LoopbackCaller { get; } = new(spiffeId, DateTimeOffset.MaxValue, AttestationKind.Loopback,
        new Dictionary<string, string>(StringComparer.Ordinal) { ["identity"] = name });
}
