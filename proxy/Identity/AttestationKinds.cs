using System.Collections.Frozen;

namespace SecretlessProxy.Identity;

/// <summary>The names attestation kinds have in config (<c>attestedBy</c>) and audit records.</summary>
public static class AttestationKinds
{
    private static readonly FrozenDictionary<string, AttestationKind> ByName = new Dictionary<string, AttestationKind>
    {
        ["x509-svid"] = AttestationKind.X509Svid,
        ["unix-peer"] = AttestationKind.UnixPeer,
        ["loopback"] = AttestationKind.Loopback,
        ["jwt"] = AttestationKind.Jwt,
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every name, for error messages.</summary>
    public static IEnumerable<string> Names => ByName.Keys.Order(StringComparer.Ordinal);

    public static string Name(AttestationKind kind) => kind switch
    {
        AttestationKind.X509Svid => "x509-svid",
        AttestationKind.UnixPeer => "unix-peer",
        AttestationKind.Loopback => "loopback",
        _ => "jwt",
    };

    public static bool TryParse(string? name, out AttestationKind kind) => ByName.TryGetValue(name ?? "", out kind);
}
