using SecretlessProxy.Identity;

namespace SecretlessProxy.Policy;

/// <summary>How an approver proved who they are.</summary>
public enum ApproverKind
{
    /// <summary>An admin X.509-SVID on the mTLS admin listener.</summary>
    Svid,

    /// <summary>A uid on the admin socket (the kernel's peer credentials).</summary>
    AdminUid,

    /// <summary>An OIDC ID token from the configured issuer.</summary>
    Oidc,
}

/// <summary>
/// An authenticated approver: the name that goes on the grant (<c>approver</c>, <c>createdBy</c>) and what the
/// <c>approvers</c> of a rule can name: the SPIFFE ID (SVID), the uid (admin socket), the groups (ID token).
/// </summary>
/// <param name="Kind">How the approver authenticated.</param>
/// <param name="Name">The SPIFFE ID, <c>unix:uid=N</c>, or the ID token's name claim.</param>
/// <param name="Groups">The ID token's groups (empty otherwise).</param>
/// <param name="SpiffeId">The admin SVID's ID (SVID approvers).</param>
/// <param name="Uid">The caller's uid (admin socket approvers).</param>
public sealed record Approver(ApproverKind Kind, string Name, IReadOnlyList<string> Groups, SpiffeId? SpiffeId = null, uint? Uid = null)
{
    public string KindName => Kind switch
    {
        ApproverKind.Svid => "x509-svid",
        ApproverKind.AdminUid => "admin-socket",
        _ => "oidc",
    };
}

/// <summary>
/// A rule's <c>approvers</c>: who may approve a grant request under it. SPIFFE ID patterns (admin SVIDs), admin socket
/// uids, and OIDC groups or names (from the ID token's claims). An approver of one kind is matched only against the
/// entries of that kind, so an ID token whose name looks like a SPIFFE ID is never an SVID.
/// </summary>
public sealed record ApproverList(IReadOnlyList<SpiffeIdPattern> Identities, IReadOnlyList<uint> Uids, IReadOnlyList<string> Groups, IReadOnlyList<string> Names)
{
    public bool IsEmpty => Identities.Count == 0 && Uids.Count == 0 && Groups.Count == 0 && Names.Count == 0;

    public bool Admits(Approver approver)
    {
        ArgumentNullException.ThrowIfNull(approver);
        return approver.Kind switch
        {
            ApproverKind.Svid => approver.SpiffeId is { } id && Identities.Any(p => p.Matches(id)),
            ApproverKind.AdminUid => approver.Uid is { } uid && Uids.Contains(uid),
            _ => Names.Contains(approver.Name, StringComparer.Ordinal) || approver.Groups.Any(g => Groups.Contains(g, StringComparer.Ordinal)),
        };
    }

    /// <summary>The entries as config would write them (for signatures, answers and messages).</summary>
    public IEnumerable<string> Describe() =>
        Identities.Select(i => i.ToString()!)
            .Concat(Uids.Select(u => "uid:" + u.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Concat(Groups.Select(g => "group:" + g))
            .Concat(Names.Select(n => "name:" + n));

    public override string ToString() => string.Join(',', Describe());
}
