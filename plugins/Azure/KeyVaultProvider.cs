using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Logging;
using MsalServiceException = Microsoft.Identity.Client.MsalServiceException;
using Polly;
using Polly.Timeout;
using SecretlessProxy.Abstractions;
using Unavailable = SecretlessProxy.Abstractions.CredentialUnavailableException;

namespace SecretlessProxy.Plugins.Azure;

/// <summary>
/// Fetches one secret with <see cref="SecretClient.GetSecretAsync"/> (the SDK answers Key Vault's 401 challenge and
/// gets a token for the vault's resource from the credential). The value is handed to the broker with an expiry of
/// now + <c>ttl</c>, so the broker caches it, refreshes it ahead (single flight) and serves it while valid when the
/// vault is down. A refresh that returns the same version keeps the credential; a new version (a rotation) replaces
/// it and is logged with both versions, never the value. The SDK's own retries are off: the Polly pipeline retries.
/// </summary>
internal sealed partial class KeyVaultProvider : ICredentialProvider
{
    private readonly KeyVaultSettings _settings;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly X509Certificate2? _certificate;
    private readonly SecretClient _client;
    private readonly ResiliencePipeline<KeyVaultSecret> _pipeline;
    private readonly StoreSecretVersions _versions = new();

    public KeyVaultProvider(KeyVaultSettings settings, TimeProvider time, ILoggerFactory loggers)
    {
        _settings = settings;
        _time = time;
        _logger = loggers.CreateLogger("SecretlessProxy.Plugins.Azure.KeyVault");
        _http = new HttpClient(TrustedCaHandler.Create(settings.CaFile)) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        var transport = new HttpClientTransport(_http);
        var auth = settings.Auth;
        // A custom authority (a sovereign cloud, a private one) is the config's choice: no instance discovery against the public cloud.
        var custom = auth.AuthorityHost != KeyVaultSettings.DefaultAuthorityHost;
        TokenCredential credential;
        if (auth.Method == KeyVaultSettings.Certificate)
        {
            _certificate = X509Certificate2.CreateFromPemFile(auth.CertificateFile!, auth.KeyFile);
            var options = new ClientCertificateCredentialOptions { AuthorityHost = auth.AuthorityHost, Transport = transport, DisableInstanceDiscovery = custom, SendCertificateChain = true };
            options.Retry.MaxRetries = 0;
            options.Retry.NetworkTimeout = settings.Timeout;
            credential = new ClientCertificateCredential(auth.TenantId, auth.ClientId, _certificate, options);
        }
        else
        {
            var options = new WorkloadIdentityCredentialOptions
            {
                TenantId = auth.TenantId,
                ClientId = auth.ClientId,
                TokenFilePath = auth.TokenFile,
                AuthorityHost = auth.AuthorityHost,
                Transport = transport,
                DisableInstanceDiscovery = custom,
            };
            options.Retry.MaxRetries = 0;
            options.Retry.NetworkTimeout = settings.Timeout;
            credential = new WorkloadIdentityCredential(options);
        }
        var clientOptions = new SecretClientOptions { Transport = transport, DisableChallengeResourceVerification = !settings.VerifyChallengeResource };
        clientOptions.Retry.MaxRetries = 0;
        clientOptions.Retry.NetworkTimeout = settings.Timeout;
        clientOptions.Diagnostics.IsLoggingEnabled = false;
        clientOptions.Diagnostics.IsDistributedTracingEnabled = false;
        _client = new SecretClient(settings.VaultUri, credential, clientOptions);
        var transient = new PredicateBuilder<KeyVaultSecret>()
            .Handle<TimeoutRejectedException>()
            .Handle<RequestFailedException>(IsOutage)
            .Handle<AuthenticationFailedException>(IsOutage);
        _pipeline = IssuerResilience.Build(transient, settings.Timeout, time);
    }

    public async ValueTask<Credential> GetCredentialAsync(CredentialRequest request, CancellationToken cancellationToken)
    {
        KeyVaultSecret secret;
        try
        {
            secret = await _pipeline.ExecuteAsync(async ct => (await _client.GetSecretAsync(_settings.Secret, _settings.Version, ct)).Value, cancellationToken);
        }
        catch (RequestFailedException ex)
        {
            throw new Unavailable(_settings.CredentialName, IsOutage(ex)
                ? $"Key Vault at {Where} is unavailable ({Describe(ex)})"
                : $"Key Vault at {Where} refused secret '{_settings.Secret}' ({Describe(ex)}{Hint(ex.Status)})", IsOutage(ex));
        }
        catch (global::Azure.Identity.CredentialUnavailableException ex)
        {
            throw new Unavailable(_settings.CredentialName, $"the {_settings.Auth.Method} sign-in is not possible ({Describe(ex)}; check auth.tokenFile / auth.certificateFile)", isOutage: false);
        }
        catch (AuthenticationFailedException ex)
        {
            throw new Unavailable(_settings.CredentialName, $"signing in to Microsoft Entra ID at {SafeUrl.Display(_settings.Auth.AuthorityHost)} as client {_settings.Auth.ClientId} failed ({Describe(ex)})", IsOutage(ex));
        }
        catch (Exception ex) when (IssuerResilience.IsUnreachable(ex, cancellationToken))
        {
            throw new Unavailable(_settings.CredentialName, $"Key Vault at {Where} could not be reached ({ex.GetType().Name})", isOutage: true);
        }
        return ToCredential(secret);
    }

    private string Where => SafeUrl.Display(_settings.VaultUri);

    private Credential ToCredential(KeyVaultSecret secret)
    {
        var text = secret.Value;
        var version = secret.Properties.Version ?? "";
        if (string.IsNullOrEmpty(text))
        {
            throw new Unavailable(_settings.CredentialName, $"secret '{_settings.Secret}' (version {version}) is empty", isOutage: false);
        }
        if (secret.Properties.Enabled == false)
        {
            throw new Unavailable(_settings.CredentialName, $"secret '{_settings.Secret}' version {version} is disabled", isOutage: false);
        }
        var expires = _time.GetUtcNow() + _settings.Ttl;
        if (secret.Properties.ExpiresOn is { } notAfter && notAfter < expires)
        {
            expires = notAfter;
        }
        var (credential, rotatedFrom) = _versions.Serve(_settings.CredentialName, version, text, expires, secret.Properties.CreatedOn);
        if (rotatedFrom is not null)
        {
            Log.Rotated(_logger, _settings.CredentialName, _settings.Secret, rotatedFrom, version);
        }
        return credential;
    }

    /// <summary>No response (status 0), 429 or 5xx.</summary>
    private static bool IsOutage(int status) => status == 0 || IssuerResilience.IsOutageStatus(status);

    private static bool IsOutage(RequestFailedException ex) => IsOutage(ex.Status);

    /// <summary>Entra ID down or unreachable (a 5xx, a 429, a network failure), as opposed to a refused sign-in.</summary>
    private static bool IsOutage(AuthenticationFailedException ex)
    {
        for (Exception? inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case MsalServiceException msal when IsOutage(msal.StatusCode):
                case RequestFailedException failed when IsOutage(failed.Status):
                case HttpRequestException or SocketException or IOException or TaskCanceledException or TimeoutException:
                    return true;
                case MsalServiceException:
                    return false;
            }
        }
        return false;
    }

    /// <summary>Status and error code only: the SDK's messages carry response bodies.</summary>
    private static string Describe(RequestFailedException ex) =>
        ex.Status == 0 ? "no response: " + (ex.InnerException?.GetType().Name ?? "connection failed") : $"HTTP {ex.Status} {Code(ex.ErrorCode) ?? "no error code"}";

    private static string Describe(Exception ex)
    {
        for (Exception? inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case MsalServiceException msal:
                    return $"HTTP {msal.StatusCode} {Code(msal.ErrorCode) ?? "no error code"}";
                case RequestFailedException failed:
                    return Describe(failed);
                case HttpRequestException or SocketException or IOException:
                    return "no response: " + inner.GetType().Name;
                case FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException:
                    return "the token file could not be read: " + inner.GetType().Name;
            }
        }
        return ex.GetType().Name;
    }

    private static string Hint(int status) => status switch
    {
        401 => ": the bearer token was not accepted",
        403 => ": grant the proxy's identity 'Key Vault Secrets User' on the vault or secret (or a get-secret access policy)",
        404 => ": the secret or version does not exist",
        _ => "",
    };

    private static string? Code(string? code) => ServiceErrorCode.Sanitize(code, "_.");

    public void Dispose()
    {
        _http.Dispose();
        _certificate?.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 7301, Level = LogLevel.Information, Message = "Credential {Credential}: Key Vault secret {Secret} rotated, version {PreviousVersion} replaced by {Version}")]
        public static partial void Rotated(ILogger logger, string credential, string secret, string previousVersion, string version);
    }
}
