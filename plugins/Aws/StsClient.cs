using System.Net;
using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Aws;

/// <summary>
/// Calls STS through the AWS SDK (its request shapes, signing of AssumeRole, XML parsing and retries of
/// transient errors) and maps every answer to a <see cref="Credential"/> or a
/// <see cref="CredentialUnavailableException"/>: 5xx, throttling, timeouts and unreachable endpoints are
/// outages; other 4xx answers are refusals. Reasons carry STS's error code, never a secret.
/// </summary>
internal static class StsClient
{
    public static AmazonSecurityTokenServiceConfig Config(StsSettings settings) => new()
    {
        ServiceURL = settings.Endpoint.ToString(),
        AuthenticationRegion = settings.Region,
        MaxErrorRetry = 2,
        Timeout = settings.Timeout,
    };

    public static async ValueTask<Credential> CallAsync(StsSettings settings, Func<CancellationToken, Task<Amazon.SecurityToken.Model.Credentials>> call, CancellationToken cancellationToken)
    {
        var name = settings.CredentialName;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // The SDK's per-attempt timeout, for every attempt, plus room for its backoff.
        deadline.CancelAfter(settings.Timeout * 3 + TimeSpan.FromSeconds(5));
        Amazon.SecurityToken.Model.Credentials credentials;
        try
        {
            credentials = await call(deadline.Token);
        }
        catch (AmazonServiceException ex) when (IsOutage(ex))
        {
            throw new CredentialUnavailableException(name, $"STS at {settings.Endpoint.Authority} is unavailable ({Describe(ex)})", isOutage: true);
        }
        catch (AmazonServiceException ex)
        {
            throw new CredentialUnavailableException(name, $"STS refused to issue credentials for role '{settings.RoleArn}' ({Describe(ex)})");
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or TimeoutException or IOException && !cancellationToken.IsCancellationRequested)
        {
            throw new CredentialUnavailableException(name, $"STS at {settings.Endpoint.Authority} could not be reached ({ex.GetType().Name})", isOutage: true);
        }
        catch (AmazonClientException ex)
        {
            throw new CredentialUnavailableException(name, $"the STS call failed in the AWS SDK ({ex.GetType().Name})", isOutage: ex.InnerException is HttpRequestException or IOException);
        }
        if (credentials?.AccessKeyId is not { Length: > 0 } accessKeyId || credentials.SecretAccessKey is not { Length: > 0 } secret
            || credentials.SessionToken is not { Length: > 0 } token || credentials.Expiration is not { } expiration)
        {
            throw new CredentialUnavailableException(name, "STS answered without complete session credentials");
        }
        return new Credential(name, new SecretValue(secret))
        {
            Username = accessKeyId,
            SessionToken = new SecretValue(token),
            ExpiresAt = new DateTimeOffset(DateTime.SpecifyKind(expiration, expiration.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : expiration.Kind)).ToUniversalTime(),
        };
    }

    public static List<Tag>? Tags(StsSettings settings) =>
        settings.SessionTags.Count == 0 ? null : settings.SessionTags.Select(t => new Tag { Key = t.Key, Value = t.Value }).ToList();

    private static bool IsOutage(AmazonServiceException ex) =>
        (int)ex.StatusCode >= 500 || ex.StatusCode == 0 || ex.StatusCode == HttpStatusCode.TooManyRequests
        || ex.ErrorCode is "Throttling" or "ThrottlingException" or "RequestLimitExceeded" or "IDPCommunicationError"
        || ex.InnerException is HttpRequestException or IOException or TaskCanceledException;

    private static string Describe(AmazonServiceException ex) =>
        ex.StatusCode == 0 ? ex.InnerException?.GetType().Name ?? "no answer" : $"HTTP {(int)ex.StatusCode} {ex.ErrorCode ?? "no error code"}";
}

/// <summary>What AWS STS session credentials answer when asked to be revoked at their issuer: they cannot be.</summary>
internal static class StsRevocation
{
    public const string Reason =
        "AWS STS cannot revoke one set of session credentials: they stay valid until they expire (at most the session's DurationSeconds). " +
        "To cut them off sooner, attach a policy to the role denying sessions issued before now (aws:TokenIssueTime), as the IAM console's 'Revoke active sessions' does";

    public static ValueTask<IssuerRevocation?> Answer() => ValueTask.FromResult<IssuerRevocation?>(IssuerRevocation.Impossible("AWS STS", Reason));
}
