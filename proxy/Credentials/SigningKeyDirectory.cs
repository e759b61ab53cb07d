using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Credentials;

/// <summary>
/// The public keys the proxy's own token signers publish (JWKS). When a reload replaces a key, the old one
/// stays published until every token it signed has expired, so rotation never breaks a verifier.
/// </summary>
public sealed class SigningKeyDirectory(TimeProvider time)
{
    private readonly Lock _gate = new();
    private List<(string Jwk, DateTimeOffset Until)> _retired = [];
    private IReadOnlyList<(string Jwk, TimeSpan Lifetime)> _current = [];

    public void Publish(IEnumerable<CredentialBinding> credentials)
    {
        var next = credentials.Select(c => c.Provider).OfType<IPublishesSigningKeys>()
            .SelectMany(p => p.PublicJwks.Select(jwk => (jwk, p.TokenLifetime)))
            .ToList();
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var keep = _retired.Where(r => r.Until > now && !next.Any(n => n.jwk == r.Jwk)).ToList();
            foreach (var (jwk, lifetime) in _current)
            {
                if (!next.Any(n => n.jwk == jwk))
                {
                    keep.Add((jwk, now + lifetime));
                }
            }
            _retired = keep;
            _current = next;
        }
    }

    /// <summary>The JWKS document: current keys, then retired keys whose tokens may still be live.</summary>
    public string Document()
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            var keys = _current.Select(c => c.Jwk).Concat(_retired.Where(r => r.Until > now).Select(r => r.Jwk)).Distinct();
            return "{\"keys\":[" + string.Join(',', keys) + "]}";
        }
    }
}
