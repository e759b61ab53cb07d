using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Polly;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Google;

/// <summary>
/// Reads one secret version with <c>GET {endpoint}v1/projects/P/secrets/S/versions/V:access</c> (payload.data is
/// base64) with a bearer access token, got by workload identity federation or a service-account key and held until
/// two minutes before it expires (single flight; dropped on a 401). The value goes to the broker with an expiry of
/// now + <c>ttl</c>, so the broker caches, refreshes ahead and serves it while valid during an outage. A new version
/// (from the resource name the answer carries) is a rotation, logged with both versions, never the value. Every
/// HTTP call runs through the Polly pipeline.
/// </summary>
internal sealed partial class SecretManagerProvider : ICredentialProvider
{
    private const int MaxBodyBytes = 1024 * 1024;
    private static readonly TimeSpan TokenMargin = TimeSpan.FromMinutes(2);

    private readonly SecretManagerSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<Answer> _pipeline;
    private readonly HeldUntilExpiry<SecretValue> _token;
    private readonly StoreSecretVersions _versions = new();

    public SecretManagerProvider(SecretManagerSettings settings, TimeProvider time, ILoggerFactory loggers)
    {
        _settings = settings;
        _time = time;
        _logger = loggers.CreateLogger("SecretlessProxy.Plugins.Google.SecretManager");
        _http = new HttpClient(TrustedCaHandler.Create(settings.CaFile)) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _token = new HeldUntilExpiry<SecretValue>(TokenMargin, time);
        _pipeline = IssuerResilience.Build(IssuerResilience.HttpTransient<Answer>(a => a.IsOutage), settings.Timeout, time);
    }

    private string Resource => $"projects/{_settings.Project}/secrets/{_settings.Secret}/versions/{_settings.Version}";

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        var accessUrl = new Uri(_settings.Endpoint, "v1/" + Resource + ":access");
        var token = await AccessTokenAsync(cancellationToken);
        var answer = await CallAsync("Secret Manager", accessUrl, () => Get(accessUrl, token), cancellationToken);
        if (answer.Status == HttpStatusCode.Unauthorized)
        {
            // The token was revoked or expired early: get another once.
            _token.Drop();
            token = await AccessTokenAsync(cancellationToken);
            answer = await CallAsync("Secret Manager", accessUrl, () => Get(accessUrl, token), cancellationToken);
        }
        if (answer.Status != HttpStatusCode.OK)
        {
            throw Unavailable($"Secret Manager refused {Resource} (HTTP {(int)answer.Status} {answer.ErrorCode ?? "no error status"}{Hint(answer.Status)})", isOutage: false);
        }
        return ToCredential(answer.Body);
    }

    private static HttpRequestMessage Get(Uri url, SecretValue token)
    {
        var message = new HttpRequestMessage(HttpMethod.Get, url);
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.Reveal());
        return message;
    }

    private Credential ToCredential(byte[] body)
    {
        string version;
        string text;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var name = root.GetProperty("name").GetString() ?? "";
            version = name[(name.LastIndexOf('/') + 1)..];
            var data = root.GetProperty("payload").GetProperty("data").GetBytesFromBase64();
            text = Encoding.UTF8.GetString(data);
            Array.Clear(data);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
        {
            throw Unavailable("Secret Manager answered :access with a body that is not its JSON shape", isOutage: false);
        }
        if (text.Length == 0)
        {
            throw Unavailable($"{Resource} is empty", isOutage: false);
        }
        var (credential, rotatedFrom) = _versions.Serve(_settings.CredentialName, version, text, _time.GetUtcNow() + _settings.Ttl);
        if (rotatedFrom is not null)
        {
            Log.Rotated(_logger, _settings.CredentialName, _settings.Secret, rotatedFrom, version);
        }
        return credential;
    }

    private ValueTask<SecretValue> AccessTokenAsync(CancellationToken cancellationToken) =>
        _token.GetAsync(_settings.Auth.Method == SecretManagerSettings.ServiceAccountKey ? KeyFileTokenAsync : FederatedTokenAsync, cancellationToken);

    /// <summary>RFC 8693 at Google's STS (the subject token from the file), then generateAccessToken when a service account is named.</summary>
    private async Task<(SecretValue, DateTimeOffset)> FederatedTokenAsync(CancellationToken cancellationToken)
    {
        var auth = _settings.Auth;
        var subject = ReadFile(auth.TokenFile!, "subject token file").Trim();
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "urn:ietf:params:oauth:grant-type:token-exchange",
            ["audience"] = auth.Audience!,
            ["scope"] = SecretManagerSettings.Scope,
            ["requested_token_type"] = "urn:ietf:params:oauth:token-type:access_token",
            ["subject_token"] = subject,
            ["subject_token_type"] = auth.SubjectTokenType,
        };
        var sts = await CallAsync("Google STS", auth.StsEndpoint, () => new HttpRequestMessage(HttpMethod.Post, auth.StsEndpoint) { Content = new FormUrlEncodedContent(form) }, cancellationToken);
        var federated = TokenFrom(sts, "Google STS", "access_token", "the subject token was not accepted: check the pool provider's issuer, audience and attribute condition");
        if (auth.ServiceAccount is not { } account)
        {
            return federated;
        }
        var url = new Uri(auth.IamEndpoint, $"v1/projects/-/serviceAccounts/{Uri.EscapeDataString(account)}:generateAccessToken");
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object> { ["scope"] = new[] { SecretManagerSettings.Scope }, ["lifetime"] = "3600s" });
        var iam = await CallAsync("IAM Credentials", url, () =>
        {
            var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", federated.Item1.Reveal());
            return message;
        }, cancellationToken);
        return TokenFrom(iam, "IAM Credentials generateAccessToken for " + account, "accessToken", "grant the federated principal roles/iam.workloadIdentityUser on the service account");
    }

    /// <summary>The JWT bearer grant (RFC 7523) with an assertion signed by the service-account key.</summary>
    private async Task<(SecretValue, DateTimeOffset)> KeyFileTokenAsync(CancellationToken cancellationToken)
    {
        string email, keyId, pem;
        Uri tokenUri;
        try
        {
            using var document = JsonDocument.Parse(ReadFile(_settings.Auth.KeyFile!, "service-account key file"));
            var root = document.RootElement;
            email = root.GetProperty("client_email").GetString()!;
            keyId = root.TryGetProperty("private_key_id", out var kid) ? kid.GetString() ?? "" : "";
            pem = root.GetProperty("private_key").GetString()!;
            tokenUri = _settings.Auth.TokenEndpoint ?? new Uri(root.TryGetProperty("token_uri", out var t) ? t.GetString()! : "https://oauth2.googleapis.com/token");
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or UriFormatException or ArgumentNullException)
        {
            throw Unavailable($"the service-account key file '{_settings.Auth.KeyFile}' is not a Google key file (client_email, private_key)", isOutage: false);
        }
        string assertion;
        using (var rsa = RSA.Create())
        {
            try
            {
                rsa.ImportFromPem(pem);
            }
            catch (Exception ex) when (ex is ArgumentException or CryptographicException)
            {
                throw Unavailable($"the private_key of '{_settings.Auth.KeyFile}' is not a PEM RSA key", isOutage: false);
            }
            var now = _time.GetUtcNow().ToUnixTimeSeconds();
            var header = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "RS256", ["typ"] = "JWT", ["kid"] = keyId }));
            var claims = Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["iss"] = email, ["sub"] = email, ["aud"] = tokenUri.ToString(), ["scope"] = SecretManagerSettings.Scope, ["iat"] = now, ["exp"] = now + 3600,
            }));
            var signature = rsa.SignData(Encoding.ASCII.GetBytes(header + "." + claims), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            assertion = header + "." + claims + "." + Base64Url.EncodeToString(signature);
        }
        var form = new Dictionary<string, string> { ["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer", ["assertion"] = assertion };
        var answer = await CallAsync("Google OAuth2", tokenUri, () => new HttpRequestMessage(HttpMethod.Post, tokenUri) { Content = new FormUrlEncodedContent(form) }, cancellationToken);
        return TokenFrom(answer, "Google OAuth2 (service-account key of " + email + ")", "access_token", "the key may be disabled or deleted");
    }

    private (SecretValue, DateTimeOffset) TokenFrom(Answer answer, string what, string field, string hint)
    {
        if (answer.Status != HttpStatusCode.OK)
        {
            throw Unavailable($"{what} refused the token request (HTTP {(int)answer.Status} {answer.ErrorCode ?? "no error code"}: {hint})", isOutage: false);
        }
        try
        {
            using var document = JsonDocument.Parse(answer.Body);
            var root = document.RootElement;
            var token = root.GetProperty(field).GetString();
            if (string.IsNullOrEmpty(token))
            {
                throw new InvalidOperationException();
            }
            DateTimeOffset expires;
            if (root.TryGetProperty("expires_in", out var seconds) && seconds.TryGetInt64(out var s))
            {
                expires = _time.GetUtcNow().AddSeconds(s);
            }
            else if (root.TryGetProperty("expireTime", out var at) && DateTimeOffset.TryParse(at.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
            {
                expires = parsed;
            }
            else
            {
                expires = _time.GetUtcNow().AddMinutes(5);
            }
            return (new SecretValue(token), expires);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw Unavailable($"{what} answered with a body that is not a token response", isOutage: false);
        }
    }

    private async Task<Answer> CallAsync(string what, Uri url, Func<HttpRequestMessage> build, CancellationToken cancellationToken)
    {
        Answer answer;
        try
        {
            answer = await _pipeline.ExecuteAsync(async ct =>
            {
                using var message = build();
                using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, ct);
                var body = await ReadLimitedAsync(response, ct);
                return response.StatusCode == HttpStatusCode.OK ? new Answer(response.StatusCode, body, null) : new Answer(response.StatusCode, [], ErrorCode(body));
            }, cancellationToken);
        }
        catch (Exception ex) when (IssuerResilience.IsUnreachable(ex, cancellationToken))
        {
            throw Unavailable($"{what} at {SafeUrl.Display(url)} could not be reached ({ex.GetType().Name})", isOutage: true);
        }
        if (answer.IsOutage)
        {
            throw Unavailable($"{what} at {SafeUrl.Display(url)} is unavailable (HTTP {(int)answer.Status} {answer.ErrorCode ?? "no error code"})", isOutage: true);
        }
        return answer;
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                throw new IOException("response body over 1 MiB");
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>Google's error shapes: <c>{"error": {"status": "PERMISSION_DENIED"}}</c> (APIs) or <c>{"error": "invalid_grant"}</c> (OAuth2, STS); the code only.</summary>
    private static string? ErrorCode(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error))
            {
                var code = error.ValueKind switch
                {
                    JsonValueKind.String => error.GetString(),
                    JsonValueKind.Object when error.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.String => status.GetString(),
                    _ => null,
                };
                return ServiceErrorCode.Sanitize(code, "_");
            }
        }
        catch (JsonException)
        {
        }
        return null;
    }

    private static string Hint(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Forbidden => ": grant the proxy's principal roles/secretmanager.secretAccessor on the secret",
        HttpStatusCode.NotFound => ": the secret or version does not exist",
        HttpStatusCode.Unauthorized => ": the access token was not accepted",
        _ => "",
    };

    private string ReadFile(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Unavailable($"the {what} '{path}' could not be read ({ex.GetType().Name})", isOutage: false);
        }
    }

    private CredentialUnavailableException Unavailable(string reason, bool isOutage) => new(_settings.CredentialName, reason, isOutage);

    public void Dispose()
    {
        _http.Dispose();
        _token.Dispose();
    }

    private sealed record Answer(HttpStatusCode Status, byte[] Body, string? ErrorCode)
    {
        public bool IsOutage => IssuerResilience.IsOutageStatus((int)Status);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7401, Level = LogLevel.Information, Message = "Credential {Credential}: Secret Manager secret {Secret} rotated, version {PreviousVersion} replaced by {Version}")]
        public static partial void Rotated(ILogger logger, string credential, string secret, string previousVersion, string version);
    }
}
