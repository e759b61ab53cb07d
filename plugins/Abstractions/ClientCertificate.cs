using System.Net.Security;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SecretlessProxy.Abstractions;

/// <summary>
/// A TLS client certificate with its private key (and intermediates) that the proxy presents to an upstream or a token
/// endpoint: RFC 8705 mTLS client authentication, an upstream that authenticates callers by certificate, the proxy's
/// own SVID. The key never leaves the process; <see cref="ToString"/> shows only the subject and thumbprint.
/// </summary>
public sealed class ClientCertificate
{
    private static readonly ConditionalWeakTable<SslStreamCertificateContext, ClientCertificate> Wrapped = [];

    private ClientCertificate(SslStreamCertificateContext context)
    {
        Context = context;
        var leaf = context.TargetCertificate;
        var hash = SHA256.HashData(leaf.RawDataMemory.Span);
        Thumbprint = Convert.ToHexStringLower(hash);
        X5tS256 = Convert.ToBase64String(hash).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        NotBefore = new DateTimeOffset(leaf.NotBefore.ToUniversalTime());
        NotAfter = new DateTimeOffset(leaf.NotAfter.ToUniversalTime());
        Subject = leaf.Subject;
    }

    /// <summary>What TLS presents: the leaf with its private key, and its intermediates.</summary>
    public SslStreamCertificateContext Context { get; }

    /// <summary>The lowercase hex SHA-256 of the leaf certificate's DER: what connection pools are kept apart by.</summary>
    public string Thumbprint { get; }

    /// <summary>The base64url SHA-256 of the leaf's DER: the <c>cnf.x5t#S256</c> of tokens bound to it (RFC 8705 §3.1).</summary>
    public string X5tS256 { get; }

    /// <summary>When the leaf becomes valid.</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>When the leaf expires.</summary>
    public DateTimeOffset NotAfter { get; }

    /// <summary>The leaf's subject distinguished name.</summary>
    public string Subject { get; }

    /// <summary>The one wrapper of a context another source keeps current (the proxy's SVID): made once per context.</summary>
    public static ClientCertificate For(SslStreamCertificateContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Wrapped.GetValue(context, c => new ClientCertificate(c));
    }

    /// <summary>
    /// Loads a PEM certificate (optionally followed by its intermediates) and its PEM private key, and checks the pair is
    /// usable at <paramref name="now"/>. Throws <see cref="InvalidDataException"/> whose message names the files and says
    /// what is wrong (missing, unreadable, not matching, expired, not yet valid), never the key.
    /// </summary>
    public static ClientCertificate Load(string certFile, string keyFile, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(certFile);
        ArgumentNullException.ThrowIfNull(keyFile);
        foreach (var file in (string[])[certFile, keyFile])
        {
            if (!File.Exists(file))
            {
                throw new InvalidDataException($"'{file}' does not exist");
            }
        }
        X509Certificate2 leaf;
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPemFile(certFile);
            if (all.Count == 0)
            {
                throw new InvalidDataException($"'{certFile}' holds no PEM certificate");
            }
            using var ephemeral = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            // Re-import so the private key is usable by the TLS stack on every platform.
            leaf = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException)
        {
            // The runtime's message may quote what it read; say what is wrong in our own words.
            throw new InvalidDataException($"the key '{keyFile}' is not a PEM private key matching the certificate '{certFile}'");
        }
        catch (ArgumentException)
        {
            throw new InvalidDataException($"the key '{keyFile}' is not a PEM private key matching the certificate '{certFile}'");
        }
        catch (IOException ex)
        {
            throw new InvalidDataException($"'{certFile}' or '{keyFile}' cannot be read ({ex.GetType().Name})");
        }
        if (!leaf.HasPrivateKey)
        {
            throw new InvalidDataException($"the key '{keyFile}' does not match the certificate '{certFile}'");
        }
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++)
        {
            intermediates.Add(all[i]);
        }
        var certificate = new ClientCertificate(SslStreamCertificateContext.Create(leaf, intermediates, offline: true));
        if (certificate.NotAfter <= now)
        {
            throw new InvalidDataException($"the certificate '{certFile}' ({certificate.Subject}) expired at {certificate.NotAfter:yyyy-MM-ddTHH:mm:ssZ}");
        }
        if (certificate.NotBefore > now)
        {
            throw new InvalidDataException($"the certificate '{certFile}' ({certificate.Subject}) is not valid before {certificate.NotBefore:yyyy-MM-ddTHH:mm:ssZ}");
        }
        return certificate;
    }

    /// <summary>
    /// Checks <c>certFile</c> and <c>keyFile</c> under <paramref name="prefix"/> (e.g. <c>clientCertificate.</c>): both
    /// required together (or both when <paramref name="required"/>), and, unless offline, loadable and valid now. Every
    /// problem goes to <see cref="PluginConfig.Error"/>.
    /// </summary>
    /// <returns>True when both keys are set.</returns>
    public static bool Validate(PluginConfig config, string prefix, bool required, string purpose)
    {
        ArgumentNullException.ThrowIfNull(config);
        var certKey = prefix + "certFile";
        var keyKey = prefix + "keyFile";
        var cert = config.Get(certKey.Replace('.', ':'));
        var key = config.Get(keyKey.Replace('.', ':'));
        if (cert is null && key is null && !required)
        {
            return false;
        }
        if (cert is null)
        {
            config.Error(certKey, "is required", $"name the PEM file of the client certificate {purpose} (intermediates may follow the leaf)");
        }
        if (key is null)
        {
            config.Error(keyKey, "is required", $"name the PEM file of the private key of the client certificate {purpose}");
        }
        if (cert is null || key is null)
        {
            return false;
        }
        if (!config.Offline)
        {
            try
            {
                Load(config.ResolvePath(cert), config.ResolvePath(key), config.TimeProvider.GetUtcNow());
            }
            catch (InvalidDataException ex)
            {
                config.Error(certKey, ex.Message, "point certFile and keyFile at a current certificate and its own private key (PEM)");
            }
        }
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => $"client certificate {Subject} (SHA-256 {Thumbprint})";
}
