using Microsoft.Extensions.Configuration;
using SecretlessProxy.Identity;
using SecretlessProxy.Identity.Bearer;

namespace SecretlessProxy.Configuration;

/// <summary>
/// Compiles <c>tokenIssuers</c>: the issuers whose JWTs a listener's <c>bearer</c> accepts (JWT-SVIDs, Kubernetes
/// service-account tokens, CI and cloud OIDC tokens), each with its keys (discovery or a JWKS URL), audiences,
/// algorithms, clock rules and claim mapping.
/// </summary>
internal static class TokenIssuerSection
{
    private static readonly string[] Keys = ["issuer", "jwksUrl", "audiences", "algorithms", "clockSkew", "maxLifetime", "cacheFor", "refreshInterval", "timeout", "mapping", "trustDomain", "spiffeId", "facts", "description"];

    /// <summary>The asymmetric algorithms a token may be signed with (the default allow-list).</summary>
    public static readonly string[] AsymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"];

    private static readonly string[] Mappings = ["jwt-svid", "kubernetes", "claims"];

    public static Dictionary<string, TokenIssuerSettings> Compile(ConfigDocument document, ConfigErrorList errors)
    {
        var result = new Dictionary<string, TokenIssuerSettings>(StringComparer.OrdinalIgnoreCase);
        foreach (var item in document.Root.GetSection("tokenIssuers").GetChildren())
        {
            if (CompileOne(item, errors) is { } issuer)
            {
                result[item.Key] = issuer;
            }
        }
        return result;
    }

    private static TokenIssuerSettings? CompileOne(IConfigurationSection item, ConfigErrorList errors)
    {
        ConfigSections.CheckKnownKeys(item, Keys, errors, "a token issuer");
        var ok = true;
        var issuer = ConfigSections.Value(item, "issuer");
        if (issuer is null || !Uri.TryCreate(issuer, UriKind.Absolute, out var issuerUri) || issuerUri.Scheme is not ("https" or "http"))
        {
            errors.Add(item.Path + ":issuer", issuer is null ? "is required" : $"'{issuer}' is not an http(s) URL",
                "write the exact iss of the issuer's tokens, e.g. issuer: https://token.actions.githubusercontent.com or https://kubernetes.default.svc.cluster.local");
            ok = false;
        }
        Uri? jwks = null;
        if (ConfigSections.Value(item, "jwksUrl") is { } jwksText)
        {
            if (!Uri.TryCreate(jwksText, UriKind.Absolute, out jwks) || jwks.Scheme is not ("https" or "http"))
            {
                errors.Add(item.Path + ":jwksUrl", $"'{jwksText}' is not an http(s) URL", "give the URL of the issuer's JWKS, or remove jwksUrl to find it through discovery (ISSUER/.well-known/openid-configuration)");
                ok = false;
            }
            else if (jwks.Scheme == "http" && !jwks.IsLoopback)
            {
                errors.Add(item.Path + ":jwksUrl", "reads signing keys in clear text from another host, where they can be replaced on the way", "use https://");
                ok = false;
            }
        }
        else if (issuer is not null && Uri.TryCreate(issuer, UriKind.Absolute, out var discoveryUri) && discoveryUri.Scheme == "http" && !discoveryUri.IsLoopback)
        {
            errors.Add(item.Path + ":issuer", "is found through discovery in clear text from another host, where the keys can be replaced on the way", "use an https:// issuer, or give jwksUrl: https://...");
            ok = false;
        }

        var audiences = ConfigSections.Items(item.GetSection("audiences")).Select(a => a.Value?.Trim() ?? "").Where(a => a.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (audiences.Count == 0)
        {
            errors.Add(item.Path + ":audiences", "is required: without an audience a token minted for any other service would be accepted",
                "list the audiences tokens for this proxy carry, e.g. audiences: [secretless-proxy] (the audience the workload requests its token for)");
            ok = false;
        }

        var algorithms = AsymmetricAlgorithms.ToList();
        if (item.GetSection("algorithms").Exists())
        {
            algorithms = [];
            foreach (var entry in ConfigSections.Items(item.GetSection("algorithms")))
            {
                var text = entry.Value?.Trim() ?? "";
                var known = AsymmetricAlgorithms.FirstOrDefault(a => a.Equals(text, StringComparison.OrdinalIgnoreCase));
                if (known is not null)
                {
                    algorithms.Add(known);
                    continue;
                }
                var why = text.Equals("none", StringComparison.OrdinalIgnoreCase) ? "an unsigned token proves nothing"
                    : text.StartsWith("HS", StringComparison.OrdinalIgnoreCase) ? "HMAC needs a shared secret; with an issuer's public keys anyone could sign"
                    : "it is not a JWS algorithm the proxy verifies";
                errors.Add(entry.Path, $"'{text}' is not allowed: {why}", "use asymmetric algorithms: " + string.Join(", ", AsymmetricAlgorithms));
                ok = false;
            }
            if (algorithms.Count == 0 && ok)
            {
                errors.Add(item.Path + ":algorithms", "is empty", "list at least one of " + string.Join(", ", AsymmetricAlgorithms) + ", or remove it for all of them");
                ok = false;
            }
        }

        var skew = PostureSection.Duration(item, "clockSkew", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1), errors);
        if (skew > TimeSpan.FromMinutes(5))
        {
            errors.Add(item.Path + ":clockSkew", "is more than 5m: an expired token would be accepted that long", "keep it to seconds, e.g. clockSkew: 30s");
            ok = false;
        }
        var maxLifetime = PostureSection.Duration(item, "maxLifetime", TimeSpan.FromHours(24), TimeSpan.FromMinutes(1), errors);
        var cacheFor = PostureSection.Duration(item, "cacheFor", TimeSpan.FromMinutes(10), TimeSpan.FromSeconds(1), errors);
        var refresh = PostureSection.Duration(item, "refreshInterval", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1), errors);
        if (refresh > cacheFor)
        {
            errors.Add(item.Path + ":refreshInterval", $"({refresh}) is longer than cacheFor ({cacheFor})", "make refreshInterval (the least time between reads an unknown kid causes) at most cacheFor");
            ok = false;
        }
        var timeout = PostureSection.Duration(item, "timeout", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100), errors);

        var mappingText = ConfigSections.Value(item, "mapping");
        var template = ConfigSections.Value(item, "spiffeId");
        var trustDomain = ConfigSections.Value(item, "trustDomain");
        ClaimMapping? mapping = (mappingText ?? (template is not null ? "claims" : null))?.ToLowerInvariant() switch
        {
            "jwt-svid" => ClaimMapping.JwtSvid,
            "kubernetes" => ClaimMapping.Kubernetes,
            "claims" => ClaimMapping.Template,
            _ => null,
        };
        if (mapping is null)
        {
            errors.Add(item.Path + ":mapping", mappingText is null ? "is required: it says how a token's claims name the caller" : $"'{mappingText}' is not a claim mapping",
                mappingText is null ? "use mapping: jwt-svid (sub is a SPIFFE ID), kubernetes (system:serviceaccount:NS:SA) or claims (with spiffeId: spiffe://TD/{claim}/...)"
                    : KeySuggestion.Fix(mappingText, Mappings, "mappings"));
            ok = false;
        }
        if (trustDomain is not null && !SpiffeId.TryParse(SpiffeId.Scheme + trustDomain, out _, out var domainError))
        {
            errors.Add(item.Path + ":trustDomain", $"'{trustDomain}' is not a trust domain: {domainError}", "write the trust domain alone, e.g. trustDomain: cluster.example.org");
            ok = false;
        }
        if (mapping == ClaimMapping.Kubernetes && trustDomain is null)
        {
            errors.Add(item.Path + ":trustDomain", "is required with mapping: kubernetes: service account NS/SA becomes spiffe://TRUST-DOMAIN/ns/NS/sa/SA", "write e.g. trustDomain: cluster.example.org");
            ok = false;
        }
        if (mapping == ClaimMapping.Template)
        {
            if (template is null)
            {
                errors.Add(item.Path + ":spiffeId", "is required with mapping: claims", "write a template, e.g. spiffeId: spiffe://ci.example.org/github/{repository}");
                ok = false;
            }
            else if (TemplateError(template) is { } templateError)
            {
                errors.Add(item.Path + ":spiffeId", $"'{template}' {templateError}", "write spiffe://TRUST-DOMAIN/path with {claim} placeholders in the path, e.g. spiffe://ci.example.org/github/{repository}");
                ok = false;
            }
        }
        else if (template is not null)
        {
            errors.Add(item.Path + ":spiffeId", "applies to mapping: claims only", "remove it, or set mapping: claims");
            ok = false;
        }
        var facts = ConfigSections.Items(item.GetSection("facts")).Select(f => f.Value?.Trim() ?? "").Where(f => f.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        foreach (var fact in facts.Where(f => f.Any(c => char.IsWhiteSpace(c) || c == ':')))
        {
            errors.Add(item.Path + ":facts", $"'{fact}' is not a claim name", "list top-level claim names, e.g. facts: [repository, ref, environment]");
            ok = false;
        }
        return !ok ? null : new TokenIssuerSettings
        {
            Name = item.Key,
            Issuer = issuer!,
            JwksUrl = jwks,
            Audiences = audiences,
            Algorithms = algorithms,
            ClockSkew = skew,
            MaxLifetime = maxLifetime,
            CacheFor = cacheFor,
            RefreshInterval = refresh,
            Timeout = timeout,
            Mapping = mapping!.Value,
            TrustDomain = trustDomain,
            SpiffeIdTemplate = template,
            FactClaims = facts,
        };
    }

    /// <summary>Why a <c>spiffeId</c> template is unusable, or null: its placeholders must be closed, named, and in the path.</summary>
    internal static string? TemplateError(string template)
    {
        var firstBrace = template.IndexOf('{', StringComparison.Ordinal);
        var fixedPart = firstBrace < 0 ? template : template[..firstBrace];
        if (!fixedPart.StartsWith(SpiffeId.Scheme, StringComparison.Ordinal) || fixedPart.IndexOf('/', SpiffeId.Scheme.Length) < 0)
        {
            return "must start with spiffe://TRUST-DOMAIN/ (placeholders only in the path)";
        }
        var depth = 0;
        var name = 0;
        foreach (var c in template)
        {
            if (c == '{')
            {
                if (depth++ > 0)
                {
                    return "nests a placeholder";
                }
                name = 0;
            }
            else if (c == '}')
            {
                if (depth-- == 0 || name == 0)
                {
                    return "has an unopened or empty placeholder";
                }
            }
            else if (depth > 0)
            {
                name++;
            }
        }
        if (depth != 0)
        {
            return "has an unclosed placeholder";
        }
        // Every placeholder filled with a plain value must make a valid ID.
        var sample = System.Text.RegularExpressions.Regex.Replace(template, "\\{[^}]*\\}", "x");
        return SpiffeId.TryParse(sample, out _, out var error) ? null : $"does not make a valid SPIFFE ID ({error})";
    }
}
