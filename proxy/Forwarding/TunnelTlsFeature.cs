using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;

namespace SecretlessProxy.Forwarding;

/// <summary>
/// The TLS facts of an intercepted tunnel, as Kestrel's HTTP layer reads them after its own TLS middleware:
/// <see cref="ITlsConnectionFeature"/> says the connection is TLS, <see cref="ITlsApplicationProtocolFeature"/>
/// carries the ALPN result (so an <c>h2</c> tunnel is served as HTTP/2).
/// </summary>
internal sealed class TunnelTlsFeature(SslStream ssl) : ITlsConnectionFeature, ITlsApplicationProtocolFeature
{
    public X509Certificate2? ClientCertificate { get; set; }

    public ReadOnlyMemory<byte> ApplicationProtocol { get; } = ssl.NegotiatedApplicationProtocol.Protocol;

    public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult<X509Certificate2?>(null);
}
