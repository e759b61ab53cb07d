using System.Text;

namespace SecretlessProxy.Identity.Bearer;

/// <summary>
/// Names the caller of a verified token from its claims, as its issuer's <see cref="ClaimMapping"/> says, and collects
/// the facts policy can match: <c>issuer</c>, <c>subject</c>, and <c>claim.NAME</c> for each configured claim.
/// Pure: the claims come in through <c>claim</c> (null when the token lacks one).
/// </summary>
public static class TokenClaimMapper
{
    public const string ClaimFactPrefix = "claim.";
    private const string ServiceAccountPrefix = "system:serviceaccount:";

    /// <summary>The caller's SPIFFE ID, or null with <paramref name="error"/> saying which claim did not fit.</summary>
    public static SpiffeId? Map(TokenIssuerSettings issuer, Func<string, string?> claim, out Dictionary<string, string> facts, out string? error)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(claim);
        facts = new Dictionary<string, string>(StringComparer.Ordinal) { ["issuer"] = issuer.Issuer, ["tokenIssuer"] = issuer.Name };
        var subject = claim("sub");
        if (!string.IsNullOrEmpty(subject))
        {
            facts["subject"] = subject;
        }
        foreach (var name in issuer.FactClaims)
        {
            if (claim(name) is { Length: > 0 } value)
            {
                facts[ClaimFactPrefix + name] = value;
            }
        }
        var id = issuer.Mapping switch
        {
            ClaimMapping.JwtSvid => FromJwtSvid(issuer, subject, out error),
            ClaimMapping.Kubernetes => FromServiceAccount(issuer, subject, out error),
            _ => FromTemplate(issuer, claim, out error),
        };
        return id;
    }

    private static SpiffeId? FromJwtSvid(TokenIssuerSettings issuer, string? subject, out string? error)
    {
        if (!SpiffeId.TryParse(subject, out var id, out var parseError))
        {
            error = $"the token's sub is not a SPIFFE ID ({parseError}), as a JWT-SVID's must be";
            return null;
        }
        if (id.IsRoot)
        {
            error = "the token's sub names a trust domain, not a workload";
            return null;
        }
        if (issuer.TrustDomain is { } domain && !string.Equals(id.TrustDomain, domain, StringComparison.Ordinal))
        {
            error = $"the token's sub is in trust domain '{id.TrustDomain}'; issuer '{issuer.Name}' speaks for '{domain}' only";
            return null;
        }
        error = null;
        return id;
    }

    private static SpiffeId? FromServiceAccount(TokenIssuerSettings issuer, string? subject, out string? error)
    {
        var parts = subject is not null && subject.StartsWith(ServiceAccountPrefix, StringComparison.Ordinal) ? subject[ServiceAccountPrefix.Length..].Split(':') : null;
        if (parts is not [{ } ns, { } sa] || !IsKubernetesName(ns) || !IsKubernetesName(sa))
        {
            error = "the token's sub is not system:serviceaccount:NAMESPACE:NAME, as a Kubernetes service-account token's is";
            return null;
        }
        return Parse($"spiffe://{issuer.TrustDomain}/ns/{ns}/sa/{sa}", out error);
    }

    private static SpiffeId? FromTemplate(TokenIssuerSettings issuer, Func<string, string?> claim, out string? error)
    {
        var template = issuer.SpiffeIdTemplate ?? "";
        var result = new StringBuilder(template.Length + 32);
        var at = 0;
        while (at < template.Length)
        {
            var open = template.IndexOf('{', at);
            if (open < 0)
            {
                result.Append(template, at, template.Length - at);
                break;
            }
            var close = template.IndexOf('}', open);
            result.Append(template, at, open - at);
            var name = template[(open + 1)..close];
            var value = claim(name);
            if (string.IsNullOrEmpty(value))
            {
                error = $"the token has no '{name}' claim, which the spiffeId template of issuer '{issuer.Name}' needs";
                return null;
            }
            if (!IsPathText(value))
            {
                error = $"the token's '{name}' claim has characters a SPIFFE ID path cannot hold (letters, digits, '.', '-', '_' and '/' only)";
                return null;
            }
            result.Append(value);
            at = close + 1;
        }
        return Parse(result.ToString(), out error);
    }

    private static SpiffeId? Parse(string text, out string? error)
    {
        if (!SpiffeId.TryParse(text, out var id, out var parseError) || id.IsRoot)
        {
            error = $"the token's claims make no valid SPIFFE ID ({parseError ?? "no path"})";
            return null;
        }
        error = null;
        return id;
    }

    /// <summary>A Kubernetes namespace or service-account name: lowercase letters, digits, '-' and '.', at most 253.</summary>
    private static bool IsKubernetesName(string text) =>
        text.Length is > 0 and <= 253 && text.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '.') && text[0] != '.' && text[0] != '-';

    private static bool IsPathText(string text) =>
        text.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '-' or '_' or '/');
}
