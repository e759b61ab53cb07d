using System.Collections.Concurrent;
using System.Net.Http;
using SecretlessProxy.Abstractions;

namespace SecretlessProxy.Injection;

/// <summary>
/// Sits on a cluster's own handler. A request that carries a <see cref="ClientCertificate"/> (a credential's, or the
/// cluster's <c>ClientCertificate: proxy-svid</c>) goes through a handler made for that certificate alone, configured
/// as the cluster's and presenting it in every TLS handshake: each certificate has its own connection pool, so a
/// connection authenticated as one certificate never carries a request meant for another, nor one meant for none.
/// Requests without one use the cluster's handler, which presents nothing. A certificate's handler is dropped once the
/// certificate has expired (a rotated SVID's predecessor).
/// </summary>
internal sealed class ClientCertificateHandler(HttpMessageHandler inner, Func<ClientCertificate, HttpMessageHandler> create, TimeProvider time) : DelegatingHandler(inner)
{
    /// <summary>Where the request transform leaves the certificate the request must be sent with.</summary>
    public static readonly HttpRequestOptionsKey<ClientCertificate> Key = new("SecretlessProxy.ClientCertificate");

    private readonly ConcurrentDictionary<string, (ClientCertificate Certificate, HttpMessageInvoker Invoker)> _pools = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(Key, out var certificate))
        {
            return base.SendAsync(request, cancellationToken);
        }
        return InvokerFor(certificate).SendAsync(request, cancellationToken);
    }

    private HttpMessageInvoker InvokerFor(ClientCertificate certificate)
    {
        if (_pools.TryGetValue(certificate.Thumbprint, out var found))
        {
            return found.Invoker;
        }
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_pools.TryGetValue(certificate.Thumbprint, out found))
            {
                return found.Invoker;
            }
            var now = time.GetUtcNow();
            foreach (var (thumbprint, entry) in _pools)
            {
                if (entry.Certificate.NotAfter <= now && _pools.TryRemove(thumbprint, out _))
                {
                    // Its connections close; a request still on one fails, as it would at its next handshake with an expired certificate.
                    entry.Invoker.Dispose();
                }
            }
            var invoker = new HttpMessageInvoker(create(certificate), disposeHandler: true);
            _pools[certificate.Thumbprint] = (certificate, invoker);
            return invoker;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_gate)
            {
                _disposed = true;
                foreach (var entry in _pools.Values)
                {
                    entry.Invoker.Dispose();
                }
                _pools.Clear();
            }
        }
        base.Dispose(disposing);
    }
}
