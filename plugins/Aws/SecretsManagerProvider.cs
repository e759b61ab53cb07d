using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Polly;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// Fetches one secret with <c>GetSecretValue</c>. The value is handed to the broker with an expiry of now +
/// <c>ttl</c>, so the broker caches it, refreshes it ahead (single flight) and serves it while valid when Secrets
/// Manager is down. A refresh that returns the same <c>VersionId</c> keeps the credential (same secret); a new
/// <c>VersionId</c> (a rotation) replaces it and is logged with both version ids, never the value.
/// </summary>
internal sealed partial class SecretsManagerProvider : ICredentialProvider
{
    private const string Target = "secretsmanager.GetSecretValue";
    private const string ContentType = "application/x-amz-json-1.1";
    private static readonly TimeSpan SigningMargin = TimeSpan.FromMinutes(2);

    private readonly SecretsManagerSettings _settings;
    private readonly ICredentialProvider _signing;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<Answer> _pipeline;
    private readonly byte[] _body;
    private readonly HeldUntilExpiry<Credential> _signingCredential;
    private readonly StoreSecretVersions _versions = new();

    public SecretsManagerProvider(SecretsManagerSettings settings, ICredentialProvider signing, TimeProvider time, ILoggerFactory loggers)
    {
        _settings = settings;
        _signing = signing;
        _time = time;
        _logger = loggers.CreateLogger("SecretlessProxy.Plugins.Aws.SecretsManager");
        _signingCredential = new HeldUntilExpiry<Credential>(SigningMargin, time);
        _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5), UseCookies = false, AllowAutoRedirect = false })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        var request = new Dictionary<string, string> { ["SecretId"] = settings.SecretId };
        if (settings.VersionId is { } versionId)
        {
            request["VersionId"] = versionId;
        }
        else
        {
            request["VersionStage"] = settings.VersionStage!;
        }
        _body = JsonSerializer.SerializeToUtf8Bytes(request);
        _pipeline = IssuerResilience.Build(IssuerResilience.HttpTransient<Answer>(a => a.IsOutage), settings.Timeout, time);
    }

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        var signing = await SigningCredentialsAsync(request, cancellationToken);
        Answer answer;
        try
        {
            answer = await _pipeline.ExecuteAsync(async ct => await SendAsync(signing, ct), cancellationToken);
        }
        catch (Exception ex) when (IssuerResilience.IsUnreachable(ex, cancellationToken))
        {
            throw Unavailable($"Secrets Manager at {SafeUrl.Display(_settings.Endpoint)} could not be reached ({ex.GetType().Name})", outage: true);
        }
        if (answer.IsOutage)
        {
            throw Unavailable($"Secrets Manager at {SafeUrl.Display(_settings.Endpoint)} is unavailable (HTTP {(int)answer.Status} {answer.ErrorCode ?? "no error code"})", outage: true);
        }
        if (answer.Status != HttpStatusCode.OK)
        {
            throw Unavailable($"Secrets Manager refused GetSecretValue for secret '{_settings.SecretId}' (HTTP {(int)answer.Status} {answer.ErrorCode ?? "no error code"})", outage: false);
        }
        return ToCredential(answer.Body);
    }

    private Credential ToCredential(byte[] body)
    {
        string versionId;
        string text;
        DateTimeOffset? created;
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            versionId = root.TryGetProperty("VersionId", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
            created = root.TryGetProperty("CreatedDate", out var c) && c.ValueKind == JsonValueKind.Number && c.TryGetDouble(out var epoch)
                ? DateTimeOffset.FromUnixTimeMilliseconds((long)(epoch * 1000)) : null;
            if (root.TryGetProperty("SecretString", out var s) && s.ValueKind == JsonValueKind.String)
            {
                text = s.GetString()!;
            }
            else if (root.TryGetProperty("SecretBinary", out var b) && b.ValueKind == JsonValueKind.String)
            {
                text = Encoding.UTF8.GetString(b.GetBytesFromBase64());
            }
            else
            {
                throw Unavailable($"secret '{_settings.SecretId}' has neither SecretString nor SecretBinary in the selected version", outage: false);
            }
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            throw Unavailable("Secrets Manager answered GetSecretValue with a body that is not its JSON shape", outage: false);
        }
        if (_settings.JsonKey is { } key)
        {
            text = Select(text, key);
        }
        if (text.Length == 0)
        {
            throw Unavailable($"secret '{_settings.SecretId}'{(_settings.JsonKey is { } k ? $" key '{k}'" : "")} is empty", outage: false);
        }
        var (credential, rotatedFrom) = _versions.Serve(_settings.CredentialName, versionId, text, _time.GetUtcNow() + _settings.Ttl, created);
        if (rotatedFrom is not null)
        {
            Log.Rotated(_logger, _settings.CredentialName, _settings.SecretId, rotatedFrom, versionId);
        }
        return credential;
    }

    /// <summary>The value of <paramref name="key"/> in a JSON object secret (a string; a number or boolean as written).</summary>
    private string Select(string text, string key)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw Unavailable($"secret '{_settings.SecretId}' is not a JSON object, so jsonKey '{key}' cannot select from it", outage: false);
            }
            if (!document.RootElement.TryGetProperty(key, out var value))
            {
                throw Unavailable($"secret '{_settings.SecretId}' has no key '{key}'", outage: false);
            }
            return value.ValueKind switch
            {
                JsonValueKind.String => value.GetString()!,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
                _ => throw Unavailable($"secret '{_settings.SecretId}' key '{key}' is not a string", outage: false),
            };
        }
        catch (JsonException)
        {
            throw Unavailable($"secret '{_settings.SecretId}' is not JSON, so jsonKey '{key}' cannot select from it", outage: false);
        }
    }

    private async ValueTask<AwsSigningCredentials> SigningCredentialsAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        // Credentials without an expiry are not held: they are asked for again (the static provider re-reads its files).
        var current = await _signingCredential.GetAsync(async ct =>
        {
            // The AWS provider's failure (STS down, keys missing) is this credential's failure: rename it.
            try
            {
                var fetched = await _signing.GetCredentialAsync(new CredentialRequest(_settings.CredentialName, request.RouteId, null), ct);
                return (fetched, fetched.ExpiresAt ?? DateTimeOffset.MinValue);
            }
            catch (CredentialUnavailableException ex)
            {
                throw Unavailable("the AWS credentials to sign with are unavailable: " + ex.Reason, ex.IsOutage);
            }
        }, cancellationToken);
        return new AwsSigningCredentials(current.Username ?? "", current.Secret, current.SessionToken);
    }

    private async ValueTask<Answer> SendAsync(AwsSigningCredentials credentials, CancellationToken cancellationToken)
    {
        var endpoint = _settings.Endpoint;
        var host = endpoint.IsDefaultPort ? endpoint.IdnHost : endpoint.IdnHost + ":" + endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var signature = SigV4Signer.Sign(
            new SigV4Request("POST", endpoint.AbsolutePath, [], [new("host", host), new("content-type", ContentType), new("x-amz-target", Target)], Convert.ToHexStringLower(SHA256.HashData(_body))),
            credentials,
            new SigV4Options(_settings.Region, "secretsmanager"),
            _time.GetUtcNow());
        using var message = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(_body) };
        message.Headers.Host = host;
        message.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", Target);
        foreach (var (name, value) in signature.HeadersToSet)
        {
            message.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        if (response.StatusCode == HttpStatusCode.OK)
        {
            return new Answer(response.StatusCode, body, null);
        }
        return new Answer(response.StatusCode, [], ErrorCode(body, response));
    }

    /// <summary>AWS's JSON error shape: <c>{"__type": "[namespace#]Code", "message": ...}</c>; the code only (the message may echo input).</summary>
    private static string? ErrorCode(byte[] body, HttpResponseMessage response)
    {
        string? code = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("__type", out var type) && type.ValueKind == JsonValueKind.String)
            {
                code = type.GetString();
            }
        }
        catch (JsonException)
        {
        }
        code ??= response.Headers.TryGetValues("x-amzn-ErrorType", out var values) ? values.FirstOrDefault() : null;
        if (code is null)
        {
            return null;
        }
        var hash = code.IndexOf('#', StringComparison.Ordinal);
        code = hash >= 0 ? code[(hash + 1)..] : code;
        var colon = code.IndexOf(':', StringComparison.Ordinal);
        code = colon >= 0 ? code[..colon] : code;
        return ServiceErrorCode.Sanitize(code);
    }

    private CredentialUnavailableException Unavailable(string reason, bool outage) => new(_settings.CredentialName, reason, outage);

    public void Dispose()
    {
        _http.Dispose();
        _signing.Dispose();
        _signingCredential.Dispose();
    }

    private sealed record Answer(HttpStatusCode Status, byte[] Body, string? ErrorCode)
    {
        public bool IsOutage => IssuerResilience.IsOutageStatus((int)Status) || ErrorCode is "ThrottlingException" or "InternalServiceError";
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Credential {Credential}: secret {SecretId} rotated, version {PreviousVersionId} replaced by {VersionId}")]
        public static partial void Rotated(ILogger logger, string credential, string secretId, string previousVersionId, string versionId);
    }
}
