using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using SecretlessProxy.Abstractions;
using SecretlessProxy.Plugins.Aws;

namespace SecretlessProxy.Tests.Aws;

/// <summary>
/// The public AWS SigV4 test suite (vendored under tests/vectors/aws-sigv4/v4 with its LICENSE and NOTICE): for every case, the
/// canonical request, string to sign, signature and Authorization header must match byte for byte.
/// </summary>
public sealed class SigV4VectorTests
{
    private static string SuiteDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SecretlessProxy.sln")))
        {
            dir = dir.Parent;
        }
        Assert.NotNull(dir);
        var suite = Path.GetFullPath(Path.Combine(dir.FullName, "tests", "vectors", "aws-sigv4", "v4"));
        Assert.True(Directory.Exists(suite), $"the SigV4 test suite is expected at {suite}");
        return suite;
    }

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(SuiteDirectory()).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(dir));
        }
        return data;
    }

    [Fact]
    public void Suite_is_present_and_complete() => Assert.True(Cases().Count >= 30);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Header_signing_matches_the_suite(string name)
    {
        var dir = Path.Combine(SuiteDirectory(), name);
        var context = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "context.json"))).RootElement;
        var creds = context.GetProperty("credentials");
        var credentials = new AwsSigningCredentials(
            creds.GetProperty("access_key_id").GetString()!,
            new SecretValue(creds.GetProperty("secret_access_key").GetString()!),
            creds.TryGetProperty("token", out var token) ? new SecretValue(token.GetString()!) : null);
        var options = new SigV4Options(
            context.GetProperty("region").GetString()!,
            context.GetProperty("service").GetString()!,
            NormalizePath: context.GetProperty("normalize").GetBoolean(),
            SignPayloadHashHeader: context.GetProperty("sign_body").GetBoolean(),
            SignSessionToken: !(context.TryGetProperty("omit_session_token", out var omit) && omit.GetBoolean()));
        var time = DateTimeOffset.Parse(context.GetProperty("timestamp").GetString()!, System.Globalization.CultureInfo.InvariantCulture);

        var request = ParseRequest(File.ReadAllText(Path.Combine(dir, "request.txt")));
        var signature = SigV4Signer.Sign(request, credentials, options, time);

        Assert.Equal(File.ReadAllText(Path.Combine(dir, "header-canonical-request.txt")), signature.CanonicalRequest);
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "header-string-to-sign.txt")), signature.StringToSign);
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "header-signature.txt")).Trim(), signature.Signature);
        var signed = File.ReadAllText(Path.Combine(dir, "header-signed-request.txt")).Split('\n');
        var expectedAuthorization = signed.Single(l => l.StartsWith("Authorization:", StringComparison.Ordinal))["Authorization:".Length..];
        Assert.Equal(expectedAuthorization, signature.Authorization);
        // Header names are case-insensitive (the suite writes x-amz-content-sha256 in lowercase); values are exact.
        foreach (var (header, value) in signature.HeadersToSet)
        {
            Assert.Contains(signed, line => line.StartsWith(header + ":", StringComparison.OrdinalIgnoreCase) && line[(header.Length + 1)..] == value);
        }
    }

    [Fact]
    public void Signature_types_never_print_secrets()
    {
        var credentials = new AwsSigningCredentials("AKID", new SecretValue("canary-secret"), new SecretValue("canary-token"));
        var signature = SigV4Signer.Sign(new SigV4Request("GET", "/", [], [new("Host", "h")], SigV4Request.EmptyPayloadHash), credentials, new SigV4Options("us-east-1", "s3"), DateTimeOffset.UnixEpoch);
        Assert.DoesNotContain("canary", credentials.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(signature.Signature, signature.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Reads the suite's raw HTTP request: request line, headers (with folded continuation lines), body.</summary>
    private static SigV4Request ParseRequest(string raw)
    {
        var split = raw.IndexOf("\n\n", StringComparison.Ordinal);
        var head = split < 0 ? raw : raw[..split];
        var body = split < 0 ? "" : raw[(split + 2)..];
        var lines = head.Split('\n');
        var requestLine = lines[0];
        var method = requestLine[..requestLine.IndexOf(' ', StringComparison.Ordinal)];
        var target = requestLine[(method.Length + 1)..requestLine.LastIndexOf(" HTTP/", StringComparison.Ordinal)];
        var q = target.IndexOf('?', StringComparison.Ordinal);
        var path = q < 0 ? target : target[..q];
        var query = new List<KeyValuePair<string, string>>();
        if (q >= 0)
        {
            foreach (var pair in target[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                query.Add(eq < 0 ? new(Uri.UnescapeDataString(pair), "") : new(Uri.UnescapeDataString(pair[..eq]), Uri.UnescapeDataString(pair[(eq + 1)..])));
            }
        }
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t') && headers.Count > 0)
            {
                var last = headers[^1];
                headers[^1] = new(last.Key, last.Value + " " + line);
                continue;
            }
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers.Add(new(line[..colon], line[(colon + 1)..]));
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        return new SigV4Request(method, path, query, headers, hash);
    }
}
