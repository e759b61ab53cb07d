using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Plugins.Vault;

/// <summary>
/// Vault's HTTP API as the proxy calls it: <c>/v1/PATH</c> on the configured address, the namespace header, the
/// proxy's TLS client certificate (cert auth) and CA, and the Polly pipeline OAuth2's token endpoint uses
/// (per-attempt timeout, two retries with backoff and jitter on network errors, timeouts, 429 and 5xx, a circuit
/// breaker). Failures become <see cref="CredentialUnavailableException"/>s naming the call, never a token or secret.
/// </summary>
internal sealed class VaultClient : IDisposable
{
    private const int MaxBodyBytes = 1024 * 1024;

    private readonly VaultSettings _settings;
    private readonly HttpClient _http;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly CircuitBreakerStateProvider _circuit = new();
    private readonly X509Certificate2Collection? _trust;
    private readonly X509Certificate2? _clientCertificate;

    public VaultClient(VaultSettings settings, TimeProvider time)
    {
        _settings = settings;
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (settings.CaFile is { } caFile)
        {
            _trust = [];
            _trust.ImportFromPemFile(caFile);
            handler.SslOptions.RemoteCertificateValidationCallback = Verify;
        }
        if (settings.Auth is { Method: "cert", CertFile: { } certFile, KeyFile: { } keyFile })
        {
            // A PEM-loaded key is ephemeral; TLS client authentication wants one it can reach: round-trip through PKCS#12.
            using var pem = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            _clientCertificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            handler.SslOptions.ClientCertificates = [_clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => _clientCertificate;
        }
        _http = new HttpClient(handler) { BaseAddress = new Uri(settings.Address, "v1/"), Timeout = Timeout.InfiniteTimeSpan };
        var transient = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .Handle<TimeoutRejectedException>()
            .HandleResult(r => (int)r.StatusCode >= 500 || r.StatusCode == HttpStatusCode.TooManyRequests);
        _pipeline = IssuerResilience.Build(transient, settings.Timeout, time, _circuit, discardRetried: response => response.Dispose());
    }

    public Abstractions.CircuitState CircuitState => IssuerResilience.StateOf(_circuit);

    /// <summary>The server, for messages (no credentials: the address has no user info).</summary>
    public string Where => SafeUrl.Display(_settings.Address);

    /// <summary>
    /// Calls <c>/v1/<paramref name="path"/></c>. Answers with any status the server gave (the caller decides what a
    /// 4xx means); throws an outage when the server could not be reached or kept failing.
    /// </summary>
    public async Task<VaultAnswer> SendAsync(HttpMethod method, string path, object? body, SecretValue? token, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _pipeline.ExecuteAsync(
                async ct =>
                {
                    using var request = new HttpRequestMessage(method, path);
                    if (token is not null)
                    {
                        request.Headers.TryAddWithoutValidation("X-Vault-Token", token.Reveal());
                    }
                    if (_settings.Namespace is { } ns)
                    {
                        request.Headers.TryAddWithoutValidation("X-Vault-Namespace", ns);
                    }
                    request.Headers.TryAddWithoutValidation("X-Vault-Request", "true");
                    if (body is not null)
                    {
                        request.Content = JsonContent.Create(body);
                    }
                    return await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
                },
                cancellationToken);
        }
        catch (TimeoutRejectedException)
        {
            throw Outage($"Vault at {Where} timed out after {_settings.Timeout.TotalSeconds:0.#} s ({Operation(path)})");
        }
        catch (BrokenCircuitException)
        {
            throw Outage($"Vault at {Where} keeps failing; not called for a while (circuit open)");
        }
        catch (HttpRequestException ex)
        {
            throw Outage($"Vault at {Where} unreachable ({ex.HttpRequestError}, {Operation(path)})");
        }
        using (response)
        {
            var status = (int)response.StatusCode;
            if (status >= 500 || status == 429)
            {
                throw Outage($"Vault at {Where} answered HTTP {status} ({Operation(path)}){(status == 503 ? ": sealed, standby or down" : "")}");
            }
            JsonElement json = default;
            if (response.Content.Headers.ContentLength is not 0)
            {
                try
                {
                    var bytes = await ReadBoundedAsync(response, cancellationToken);
                    if (bytes.Length > 0)
                    {
                        using var document = JsonDocument.Parse(bytes);
                        json = document.RootElement.Clone();
                        Array.Clear(bytes);
                    }
                }
                catch (JsonException)
                {
                    throw new CredentialUnavailableException(_settings.Name, $"Vault at {Where} sent an answer that is not JSON (HTTP {status}, {Operation(path)})");
                }
                catch (HttpRequestException ex)
                {
                    throw Outage($"Vault at {Where} broke off its answer ({ex.HttpRequestError}, {Operation(path)})");
                }
            }
            return new VaultAnswer(status, json);
        }
    }

    /// <summary>The call's path without its query (a pinned version), safe to name in a message.</summary>
    public static string Operation(string path) => path.Split('?')[0];

    private static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MaxBodyBytes)
        {
            throw new JsonException("too large");
        }
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                throw new JsonException("too large");
            }
            buffer.Write(chunk, 0, read);
        }
        var bytes = buffer.ToArray();
        Array.Clear(buffer.GetBuffer());
        return bytes;
    }

    private CredentialUnavailableException Outage(string reason) => new(_settings.Name, reason, isOutage: true);

    private bool Verify(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return false;
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_trust!);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements.Skip(1))
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    }

    public void Dispose()
    {
        _http.Dispose();
        _clientCertificate?.Dispose();
        if (_trust is not null)
        {
            foreach (var cert in _trust)
            {
                cert.Dispose();
            }
        }
    }
}
