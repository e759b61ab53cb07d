namespace SecretlessProxy.Identity;

/// <summary>How the platform vouched for a caller: the proof an attestor checked before naming the identity.</summary>
public enum AttestationKind
{
    /// <summary>An X.509-SVID presented over mutual TLS, chained to its trust domain's bundle.</summary>
    X509Svid,

    /// <summary>The kernel's peer credentials on a Unix socket (uid, gid, pid, executable).</summary>
    UnixPeer,

    /// <summary>A caller on a loopback listener bound to one identity.</summary>
    Loopback,

    /// <summary>A JWT-SVID or OIDC token, verified against its issuer's keys.</summary>
    Jwt,
}
