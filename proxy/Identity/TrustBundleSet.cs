using System.Collections.Frozen;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Identity;

/// <summary>X.509 bundles (CA certificates) keyed by trust domain name, as go-spiffe's x509bundle.Set.</summary>
public sealed class TrustBundleSet
{
    private readonly FrozenDictionary<string, X509Certificate2Collection> _bundles;

    public TrustBundleSet(IReadOnlyDictionary<string, X509Certificate2Collection> bundles)
    {
        _bundles = bundles.ToFrozenDictionary(StringComparer.Ordinal);
        var all = new X509Certificate2Collection();
        foreach (var bundle in _bundles.Values)
        {
            all.AddRange(bundle);
        }
        AllAuthorities = all;
    }

    /// <summary>
    /// SHA-256 over every trust domain and its authorities' thumbprints: equal for two sets that trust the same CAs
    /// (a reload that re-read unchanged bundle files), different when a bundle changed.
    /// </summary>
    public string Fingerprint => field ??= ComputeFingerprint();

    private string ComputeFingerprint()
    {
        var text = new System.Text.StringBuilder();
        foreach (var (domain, bundle) in _bundles.OrderBy(b => b.Key, StringComparer.Ordinal))
        {
            text.Append(domain).Append('=');
            foreach (var thumbprint in bundle.Select(c => c.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256)).Order(StringComparer.Ordinal))
            {
                text.Append(thumbprint).Append(',');
            }
            text.Append('\n');
        }
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text.ToString())));
    }

    public static TrustBundleSet Empty { get; } = new(new Dictionary<string, X509Certificate2Collection>());

    /// <summary>Every CA of every trust domain (used only to let the TLS layer build a chain without system roots).</summary>
    public X509Certificate2Collection AllAuthorities { get; }

    public IEnumerable<string> TrustDomains => _bundles.Keys;

    /// <summary>This set with <paramref name="over"/>'s trust domains added, each replacing this set's bundle of the same domain.</summary>
    public TrustBundleSet Overlay(TrustBundleSet over)
    {
        ArgumentNullException.ThrowIfNull(over);
        if (over._bundles.Count == 0)
        {
            return this;
        }
        var merged = new Dictionary<string, X509Certificate2Collection>(_bundles, StringComparer.Ordinal);
        foreach (var (domain, bundle) in over._bundles)
        {
            merged[domain] = bundle;
        }
        return new TrustBundleSet(merged);
    }

    public bool TryGetBundle(string trustDomain, out X509Certificate2Collection bundle) =>
        _bundles.TryGetValue(trustDomain, out bundle!);

    /// <summary>Reads every certificate in a PEM file; throws <see cref="InvalidDataException"/> naming the file.</summary>
    public static X509Certificate2Collection LoadPem(string path)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new InvalidDataException($"'{path}' is not a PEM file of certificates ({ex.Message})", ex);
        }
        if (collection.Count == 0)
        {
            throw new InvalidDataException($"'{path}' holds no PEM certificate ('-----BEGIN CERTIFICATE-----' block)");
        }
        return collection;
    }
}
