using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.IdentityModel.Tokens;

namespace SecretlessProxy.Federation;

/// <summary>
/// A SPIFFE bundle in its JWKS form (the SPIFFE Trust Domain and Bundle spec, §4): <c>x509-svid</c> keys carry one CA
/// certificate each in <c>x5c</c>, <c>jwt-svid</c> keys are JWT-SVID signing keys named by <c>kid</c>; the document may
/// carry <c>spiffe_sequence</c> and <c>spiffe_refresh_hint</c> (seconds). Parsing is strict: anything else is refused
/// with a reason, so a malformed bundle never replaces a good one.
/// </summary>
public sealed class SpiffeBundle
{
    /// <summary>The largest bundle document read (a bundle of many CAs is a few tens of kilobytes).</summary>
    public const int MaxBytes = 1024 * 1024;

    /// <summary>The most keys one bundle may hold.</summary>
    public const int MaxKeys = 256;

    public const string X509SvidUse = "x509-svid";

    public const string JwtSvidUse = "jwt-svid";

    public SpiffeBundle(X509Certificate2Collection x509Authorities, IReadOnlyList<JsonWebKey> jwtAuthorities, long? sequence, TimeSpan? refreshHint)
    {
        X509Authorities = x509Authorities;
        JwtAuthorities = jwtAuthorities;
        Sequence = sequence;
        RefreshHint = refreshHint;
    }

    /// <summary>The trust domain's CA certificates (roots of X.509-SVID chains).</summary>
    public X509Certificate2Collection X509Authorities { get; }

    /// <summary>The trust domain's JWT-SVID signing keys (public parts, with their <c>kid</c>).</summary>
    public IReadOnlyList<JsonWebKey> JwtAuthorities { get; }

    /// <summary><c>spiffe_sequence</c>, when present.</summary>
    public long? Sequence { get; }

    /// <summary><c>spiffe_refresh_hint</c>, when present.</summary>
    public TimeSpan? RefreshHint { get; }

    /// <summary>Parses a bundle document; throws <see cref="InvalidDataException"/> saying what is wrong (never echoing key material).</summary>
    public static SpiffeBundle Parse(ReadOnlySpan<byte> json)
    {
        if (json.Length > MaxBytes)
        {
            throw new InvalidDataException($"the bundle is {json.Length} bytes, more than the {MaxBytes} accepted");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"the bundle is not JSON ({ex.Message})", ex);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException("the bundle is not a JSON object (a JWK Set)");
            }
            if (!root.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException("the bundle has no 'keys' array");
            }
            if (keys.GetArrayLength() > MaxKeys)
            {
                throw new InvalidDataException($"the bundle holds {keys.GetArrayLength()} keys, more than the {MaxKeys} accepted");
            }
            long? sequence = null;
            if (root.TryGetProperty("spiffe_sequence", out var sequenceElement))
            {
                if (sequenceElement.ValueKind != JsonValueKind.Number || !sequenceElement.TryGetInt64(out var value) || value < 0)
                {
                    throw new InvalidDataException("'spiffe_sequence' is not a non-negative integer");
                }
                sequence = value;
            }
            TimeSpan? refreshHint = null;
            if (root.TryGetProperty("spiffe_refresh_hint", out var hintElement))
            {
                if (hintElement.ValueKind != JsonValueKind.Number || !hintElement.TryGetInt64(out var seconds) || seconds < 0 || seconds > int.MaxValue)
                {
                    throw new InvalidDataException("'spiffe_refresh_hint' is not a non-negative number of seconds");
                }
                refreshHint = TimeSpan.FromSeconds(seconds);
            }

            var authorities = new X509Certificate2Collection();
            var jwtKeys = new List<JsonWebKey>();
            var index = 0;
            foreach (var key in keys.EnumerateArray())
            {
                var at = $"keys[{index++}]";
                if (key.ValueKind != JsonValueKind.Object)
                {
                    throw new InvalidDataException($"{at} is not a JSON object");
                }
                var use = key.TryGetProperty("use", out var useElement) && useElement.ValueKind == JsonValueKind.String ? useElement.GetString() : null;
                if (!key.TryGetProperty("kty", out var kty) || kty.ValueKind != JsonValueKind.String || kty.GetString() is not { Length: > 0 })
                {
                    throw new InvalidDataException($"{at} has no 'kty'");
                }
                switch (use)
                {
                    case X509SvidUse:
                        authorities.Add(ReadAuthority(key, at));
                        break;
                    case JwtSvidUse:
                        jwtKeys.Add(ReadJwtKey(key, at));
                        break;
                    default:
                        throw new InvalidDataException($"{at} has use '{use ?? "(none)"}'; a SPIFFE bundle key's use is x509-svid or jwt-svid");
                }
            }
            if (authorities.Count == 0 && jwtKeys.Count == 0)
            {
                throw new InvalidDataException("the bundle holds no key");
            }
            return new SpiffeBundle(authorities, jwtKeys, sequence, refreshHint);
        }
    }

    private static X509Certificate2 ReadAuthority(JsonElement key, string at)
    {
        if (!key.TryGetProperty("x5c", out var x5c) || x5c.ValueKind != JsonValueKind.Array || x5c.GetArrayLength() != 1
            || x5c[0].ValueKind != JsonValueKind.String)
        {
            throw new InvalidDataException($"{at} (x509-svid) must have 'x5c' with exactly one base64 certificate");
        }
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(Convert.FromBase64String(x5c[0].GetString()!));
        }
        catch (Exception ex) when (ex is FormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidDataException($"{at} (x509-svid): 'x5c' is not a base64 DER certificate", ex);
        }
        if (certificate.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true })
        {
            throw new InvalidDataException($"{at} (x509-svid): the certificate '{certificate.Subject}' is not a CA (basicConstraints CA:TRUE)");
        }
        return certificate;
    }

    private static JsonWebKey ReadJwtKey(JsonElement key, string at)
    {
        if (!key.TryGetProperty("kid", out var kid) || kid.ValueKind != JsonValueKind.String || kid.GetString() is not { Length: > 0 })
        {
            throw new InvalidDataException($"{at} (jwt-svid) has no 'kid'");
        }
        if (key.TryGetProperty("d", out _))
        {
            throw new InvalidDataException($"{at} (jwt-svid) holds a private key ('d'); a bundle carries public keys only");
        }
        try
        {
            return new JsonWebKey(key.GetRawText());
        }
        catch (ArgumentException ex)
        {
            throw new InvalidDataException($"{at} (jwt-svid) is not a JWK ({ex.Message})", ex);
        }
    }

    /// <summary>Writes a bundle document: each CA as an <c>x509-svid</c> key, each JWT key as a <c>jwt-svid</c> key.</summary>
    public static byte[] Write(IEnumerable<X509Certificate2> authorities, IEnumerable<JsonWebKey> jwtKeys, long sequence, TimeSpan refreshHint)
    {
        ArgumentNullException.ThrowIfNull(authorities);
        ArgumentNullException.ThrowIfNull(jwtKeys);
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("keys");
            foreach (var certificate in authorities)
            {
                json.WriteStartObject();
                json.WriteString("use", X509SvidUse);
                WritePublicParameters(json, certificate);
                json.WriteStartArray("x5c");
                json.WriteStringValue(Convert.ToBase64String(certificate.RawData));
                json.WriteEndArray();
                json.WriteEndObject();
            }
            foreach (var key in jwtKeys)
            {
                json.WriteStartObject();
                json.WriteString("use", JwtSvidUse);
                json.WriteString("kty", key.Kty);
                json.WriteString("kid", key.Kid);
                foreach (var (name, value) in new[] { ("crv", key.Crv), ("x", key.X), ("y", key.Y), ("n", key.N), ("e", key.E) })
                {
                    if (!string.IsNullOrEmpty(value))
                    {
                        json.WriteString(name, value);
                    }
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteNumber("spiffe_sequence", sequence);
            json.WriteNumber("spiffe_refresh_hint", (long)refreshHint.TotalSeconds);
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>kty and the public key's parameters (RFC 7518 §6), from the certificate's key.</summary>
    private static void WritePublicParameters(Utf8JsonWriter json, X509Certificate2 certificate)
    {
        if (certificate.GetECDsaPublicKey() is { } ec)
        {
            using (ec)
            {
                var parameters = ec.ExportParameters(false);
                json.WriteString("kty", "EC");
                json.WriteString("crv", parameters.Curve.Oid.FriendlyName switch
                {
                    "nistP256" or "ECDSA_P256" => "P-256",
                    "nistP384" or "ECDSA_P384" => "P-384",
                    "nistP521" or "ECDSA_P521" => "P-521",
                    var other => other,
                });
                json.WriteString("x", Base64UrlEncoder.Encode(parameters.Q.X));
                json.WriteString("y", Base64UrlEncoder.Encode(parameters.Q.Y));
            }
        }
        else if (certificate.GetRSAPublicKey() is { } rsa)
        {
            using (rsa)
            {
                var parameters = rsa.ExportParameters(false);
                json.WriteString("kty", "RSA");
                json.WriteString("n", Base64UrlEncoder.Encode(parameters.Modulus));
                json.WriteString("e", Base64UrlEncoder.Encode(parameters.Exponent));
            }
        }
        else
        {
            throw new InvalidDataException($"the CA '{certificate.Subject}' has neither an EC nor an RSA key");
        }
    }
}
