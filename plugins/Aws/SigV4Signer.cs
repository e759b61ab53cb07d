using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// AWS Signature Version 4 for the Authorization header (the published test suite's header cases pass byte for
/// byte). Pure: the time and credentials are passed in, nothing is read or logged.
/// </summary>
public static class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    public static SigV4Signature Sign(SigV4Request request, AwsSigningCredentials credentials, SigV4Options options, DateTimeOffset time) =>
        Sign(request, credentials, options, time, keyCache: null);

    /// <summary>
    /// Signs <paramref name="request"/>. <paramref name="keyCache"/> (one per set of credentials) keeps the
    /// derived signing key for the day, so only the final HMAC runs per request.
    /// </summary>
    public static SigV4Signature Sign(SigV4Request request, AwsSigningCredentials credentials, SigV4Options options, DateTimeOffset time, SigV4SigningKeyCache? keyCache)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(options);
        var amzDate = time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var scope = string.Concat(date, "/", options.Region, "/", options.Service, "/aws4_request");

        var added = new List<KeyValuePair<string, string>>(4) { new("X-Amz-Date", amzDate) };
        if (options.SignPayloadHashHeader)
        {
            added.Add(new("X-Amz-Content-Sha256", request.PayloadHash));
        }
        if (credentials.SessionToken is not null && options.SignSessionToken)
        {
            added.Add(new("X-Amz-Security-Token", credentials.SessionToken.Reveal()));
        }

        // (lowercase name, canonical value), sorted by name; values of a repeated name keep their order.
        var headers = new List<(string Name, string Value)>(request.Headers.Count + added.Count);
        foreach (var (name, value) in request.Headers)
        {
            headers.Add((name.Trim().ToLowerInvariant(), CanonicalHeaderValue(value)));
        }
        foreach (var (name, value) in added)
        {
            headers.Add((name.ToLowerInvariant(), CanonicalHeaderValue(value)));
        }
        StableSortByName(headers);

        var signedHeaders = new StringBuilder(headers.Count * 16);
        var length = 64 + request.Path.Length * 3 + request.PayloadHash.Length;
        foreach (var (name, value) in headers)
        {
            length += name.Length * 2 + value.Length + 3;
        }
        var canonical = new StringBuilder(length);
        canonical.Append(request.Method.ToUpperInvariant()).Append('\n');
        canonical.Append(options.EncodePath ? CanonicalPath(request.Path, options.NormalizePath) : (request.Path.Length == 0 ? "/" : request.Path)).Append('\n');
        canonical.Append(CanonicalQuery(request.Query, options.EncodeQuery)).Append('\n');
        for (var i = 0; i < headers.Count; i++)
        {
            var name = headers[i].Name;
            canonical.Append(name).Append(':').Append(headers[i].Value);
            while (i + 1 < headers.Count && headers[i + 1].Name == name)
            {
                canonical.Append(',').Append(headers[++i].Value);
            }
            canonical.Append('\n');
            if (signedHeaders.Length > 0)
            {
                signedHeaders.Append(';');
            }
            signedHeaders.Append(name);
        }
        var signedHeaderList = signedHeaders.ToString();
        canonical.Append('\n').Append(signedHeaderList).Append('\n').Append(request.PayloadHash);
        var canonicalRequest = canonical.ToString();

        var stringToSign = string.Concat(Algorithm + "\n", amzDate, "\n", scope, "\n", Sha256Hex(canonicalRequest));
        var key = keyCache is null ? DeriveKey(credentials, date, options.Region, options.Service) : keyCache.Get(credentials, date, options.Region, options.Service);
        var signature = Hex(Hmac(key, stringToSign));

        var result = new List<KeyValuePair<string, string>>(added.Count + 2);
        result.AddRange(added);
        if (credentials.SessionToken is not null && !options.SignSessionToken)
        {
            result.Add(new("X-Amz-Security-Token", credentials.SessionToken.Reveal()));
        }
        result.Add(new("Authorization", string.Concat(Algorithm + " Credential=", credentials.AccessKeyId, "/", scope, ", SignedHeaders=", signedHeaderList, ", Signature=", signature)));
        return new SigV4Signature(canonicalRequest, stringToSign, signature, result);
    }

    /// <summary>The signing key of one day, region and service (four chained HMACs from the secret).</summary>
    internal static byte[] DeriveKey(AwsSigningCredentials credentials, string date, string region, string service)
    {
        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + credentials.SecretAccessKey.Reveal()), date);
        key = Hmac(key, region);
        key = Hmac(key, service);
        return Hmac(key, "aws4_request");
    }

    /// <summary>Insertion sort by name (ordinal), stable: the header lists are short.</summary>
    private static void StableSortByName(List<(string Name, string Value)> headers)
    {
        for (var i = 1; i < headers.Count; i++)
        {
            var item = headers[i];
            var j = i - 1;
            while (j >= 0 && string.CompareOrdinal(headers[j].Name, item.Name) > 0)
            {
                headers[j + 1] = headers[j];
                j--;
            }
            headers[j + 1] = item;
        }
    }

    private static string Sha256Hex(string text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var count = Encoding.UTF8.GetBytes(text, rented);
            Span<byte> hash = stackalloc byte[32];
            SHA256.HashData(rented.AsSpan(0, count), hash);
            return Convert.ToHexStringLower(hash);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Trims, and folds every run of whitespace (line folds included) into one space.</summary>
    private static string CanonicalHeaderValue(string value)
    {
        if (IsCanonical(value))
        {
            return value;
        }
        var result = new StringBuilder(value.Length);
        var pendingSpace = false;
        foreach (var c in value.AsSpan().Trim())
        {
            if (c is ' ' or '\t' or '\r' or '\n')
            {
                pendingSpace = true;
                continue;
            }
            if (pendingSpace)
            {
                result.Append(' ');
                pendingSpace = false;
            }
            result.Append(c);
        }
        return result.ToString();
    }

    private static bool IsCanonical(string value)
    {
        if (value.Length > 0 && (value[0] is ' ' or '\t' || value[^1] is ' ' or '\t'))
        {
            return false;
        }
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c is '\t' or '\r' or '\n' || (c == ' ' && i + 1 < value.Length && value[i + 1] == ' '))
            {
                return false;
            }
        }
        return true;
    }

    internal static string CanonicalPath(string path, bool normalize)
    {
        if (string.IsNullOrEmpty(path))
        {
            return "/";
        }
        if (normalize)
        {
            var segments = new List<string>();
            foreach (var segment in path.Split('/'))
            {
                switch (segment)
                {
                    case "" or ".":
                        continue;
                    case "..":
                        if (segments.Count > 0)
                        {
                            segments.RemoveAt(segments.Count - 1);
                        }
                        continue;
                    default:
                        segments.Add(segment);
                        break;
                }
            }
            var trailing = path.EndsWith('/') && segments.Count > 0 ? "/" : "";
            path = "/" + string.Join('/', segments) + trailing;
        }
        // Each segment encoded on its own; the separators stay.
        return string.Join('/', path.Split('/').Select(Encode));
    }

    private static string CanonicalQuery(IReadOnlyList<KeyValuePair<string, string>> query, bool encode)
    {
        if (query.Count == 0)
        {
            return "";
        }
        var pairs = query.Select(p => encode ? (Key: Encode(p.Key), Value: Encode(p.Value)) : (p.Key, p.Value))
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .ThenBy(p => p.Value, StringComparer.Ordinal);
        return string.Join('&', pairs.Select(p => p.Key + "=" + p.Value));
    }

    internal static string Encode(string value)
    {
        var builder = new StringBuilder(value.Length);
        Encode(builder, value);
        return builder.ToString();
    }

    /// <summary>RFC 3986 encoding: everything but unreserved characters, as UTF-8 bytes with uppercase hex.</summary>
    private static void Encode(StringBuilder builder, string value)
    {
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9' or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~')
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
    }

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
