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

    public static SigV4Signature Sign(SigV4Request request, AwsSigningCredentials credentials, SigV4Options options, DateTimeOffset time)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(options);
        var amzDate = time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var scope = $"{date}/{options.Region}/{options.Service}/aws4_request";

        var added = new List<KeyValuePair<string, string>> { new("X-Amz-Date", amzDate) };
        if (options.SignPayloadHashHeader)
        {
            added.Add(new("X-Amz-Content-Sha256", request.PayloadHash));
        }
        if (credentials.SessionToken is not null && options.SignSessionToken)
        {
            added.Add(new("X-Amz-Security-Token", credentials.SessionToken.Reveal()));
        }

        var headers = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Headers.Concat(added))
        {
            var lower = name.Trim().ToLowerInvariant();
            if (!headers.TryGetValue(lower, out var values))
            {
                headers[lower] = values = [];
            }
            values.Add(CanonicalHeaderValue(value));
        }
        var signedHeaders = string.Join(';', headers.Keys);

        var canonical = new StringBuilder();
        canonical.Append(request.Method.ToUpperInvariant()).Append('\n');
        canonical.Append(options.EncodePath ? CanonicalPath(request.Path, options.NormalizePath) : (request.Path.Length == 0 ? "/" : request.Path)).Append('\n');
        canonical.Append(CanonicalQuery(request.Query, options.EncodeQuery)).Append('\n');
        foreach (var (name, values) in headers)
        {
            canonical.Append(name).Append(':').Append(string.Join(',', values)).Append('\n');
        }
        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(request.PayloadHash);
        var canonicalRequest = canonical.ToString();

        var stringToSign = $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";
        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + credentials.SecretAccessKey.Reveal()), date);
        key = Hmac(key, options.Region);
        key = Hmac(key, options.Service);
        key = Hmac(key, "aws4_request");
        var signature = Hex(Hmac(key, stringToSign));

        var result = new List<KeyValuePair<string, string>>(added);
        if (credentials.SessionToken is not null && !options.SignSessionToken)
        {
            result.Add(new("X-Amz-Security-Token", credentials.SessionToken.Reveal()));
        }
        result.Add(new("Authorization", $"{Algorithm} Credential={credentials.AccessKeyId}/{scope}, SignedHeaders={signedHeaders}, Signature={signature}"));
        return new SigV4Signature(canonicalRequest, stringToSign, signature, result);
    }

    /// <summary>Trims, and folds every run of whitespace (line folds included) into one space.</summary>
    private static string CanonicalHeaderValue(string value)
    {
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
