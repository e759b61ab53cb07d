using System.Security.Cryptography;

namespace SecretlessProxy.Abstractions;

/// <summary>
/// A private key the proxy signs with, read from a PEM file: EC P-256 (ES256) or RSA of at least 2048 bits (RS256),
/// with its key id (given, or the RFC 7638 thumbprint) and public JWK. The one loader behind every signing plugin
/// (<c>jwt</c>, <c>private_key_jwt</c> client assertions, token-exchange subject tokens).
/// </summary>
public sealed class PemSigningKey : IDisposable
{
    private PemSigningKey(AsymmetricAlgorithm key, string algorithm, string keyId, string publicJwk)
    {
        Key = key;
        Algorithm = algorithm;
        KeyId = keyId;
        PublicJwk = publicJwk;
    }

    /// <summary>The key: an <see cref="ECDsa"/> or an <see cref="RSA"/>.</summary>
    public AsymmetricAlgorithm Key { get; }

    /// <summary><c>ES256</c> or <c>RS256</c>.</summary>
    public string Algorithm { get; }

    /// <summary>The key id: as configured, or the RFC 7638 thumbprint.</summary>
    public string KeyId { get; }

    /// <summary>The public JWK as JSON text (no private parts).</summary>
    public string PublicJwk { get; }

    /// <summary>Loads the key. Throws <see cref="InvalidDataException"/> (its message says why, never the key) or an I/O exception.</summary>
    public static PemSigningKey Load(string path, string? keyId)
    {
        var pem = File.ReadAllText(path);
        AsymmetricAlgorithm key;
        string algorithm;
        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(pem);
            if (ec.KeySize != 256)
            {
                throw new InvalidDataException($"holds an EC key on a {ec.KeySize}-bit curve (only P-256, for ES256, is supported)");
            }
            (key, algorithm) = (ec, "ES256");
        }
        catch (ArgumentException)
        {
            ec.Dispose();
            var rsa = RSA.Create();
            try
            {
                rsa.ImportFromPem(pem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                rsa.Dispose();
                throw new InvalidDataException("does not hold a PEM private key", ex);
            }
            if (rsa.KeySize < 2048)
            {
                var size = rsa.KeySize;
                rsa.Dispose();
                throw new InvalidDataException($"holds an RSA key of {size} bits (at least 2048 are needed)");
            }
            (key, algorithm) = (rsa, "RS256");
        }
        catch (CryptographicException ex)
        {
            ec.Dispose();
            throw new InvalidDataException("does not hold a PEM private key", ex);
        }
        catch
        {
            ec.Dispose();
            throw;
        }
        var (jwk, kid) = JsonWebKeys.Public(key, keyId);
        return new PemSigningKey(key, algorithm, kid, jwk);
    }

    /// <summary>
    /// Checks the key file named by <paramref name="key"/> (required or not): it must exist and hold a usable key.
    /// Reports any problem on that key, with the file's path and never its content.
    /// </summary>
    public static void Validate(PluginConfig config, string key, bool required, string purpose)
    {
        ArgumentNullException.ThrowIfNull(config);
        var fix = $"point it at the PEM private key {purpose}: EC P-256 ('openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt') or RSA of 2048 bits or more (relative paths start at the config file's folder)";
        if (config.Get(key) is not { } value)
        {
            if (required)
            {
                config.Error(key, "is required", fix);
            }
            return;
        }
        var path = config.ResolvePath(value);
        if (config.Offline)
        {
            return;
        }
        if (!File.Exists(path))
        {
            config.Error(key, $"the file '{path}' does not exist", fix);
            return;
        }
        try
        {
            using var _ = Load(path, null);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            var problem = ex is InvalidDataException ? ex.Message : $"cannot be read ({ex.GetType().Name})";
            config.Error(key, $"the file '{path}' is not a usable PEM private key: it {problem}", fix);
        }
    }

    /// <summary>Disposes the key.</summary>
    public void Dispose() => Key.Dispose();
}
