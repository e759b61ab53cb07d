namespace SecretlessProxy.Identity.Bearer;

/// <summary>A listener's <c>bearer</c>: the header callers put their token in, and the issuers whose tokens it accepts.</summary>
public sealed record BearerSettings(string Header, IReadOnlyList<TokenIssuerSettings> Issuers)
{
    /// <summary>True for <c>Authorization</c>: the value must use the <c>Bearer</c> scheme.</summary>
    public bool IsAuthorization => Header.Equals("Authorization", StringComparison.OrdinalIgnoreCase);

    /// <summary>The issuer whose <c>iss</c> the token names, or null.</summary>
    public TokenIssuerSettings? IssuerOf(string? iss)
    {
        foreach (var issuer in Issuers)
        {
            if (string.Equals(issuer.Issuer, iss, StringComparison.Ordinal))
            {
                return issuer;
            }
        }
        return null;
    }
}
